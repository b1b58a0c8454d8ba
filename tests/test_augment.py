"""Batched interpolable augmentation and SLERP/LERP."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metaaug.augment import (
    AffineRanges,
    apply_params,
    augmentation_triplets,
    check_alpha,
    gaussian_kernel,
    identity_params,
    interpolate_params,
    lerp,
    random_shift,
    sample_params,
    shift_images,
    slerp,
    soften_strokes,
)

vectors = st.integers(0, 2**31 - 1).map(
    lambda s: torch.randn(2, 16, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
)
alphas = st.floats(0.0, 1.0)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


@settings(max_examples=60, deadline=None)
@given(vectors)
def test_slerp_endpoints_exact(pair):
    a, b = pair[:1], pair[1:]
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)


@settings(max_examples=60, deadline=None)
@given(vectors, st.lists(alphas, min_size=1, max_size=8))
def test_slerp_stays_on_unit_sphere(pair, path):
    a, b = _unit(pair[:1]), _unit(pair[1:])
    t = torch.tensor(path, dtype=torch.float64)
    out = slerp(a.expand(len(t), -1), b.expand(len(t), -1), t)
    assert torch.allclose(out.norm(dim=1), torch.ones(len(t), dtype=torch.float64), atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(vectors, alphas)
def test_slerp_symmetric(pair, alpha):
    a, b = _unit(pair[:1]), _unit(pair[1:])
    assert torch.allclose(slerp(a, b, alpha), slerp(b, a, 1 - alpha), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(vectors, alphas)
def test_slerp_keeps_angle_proportional(pair, alpha):
    a, b = _unit(pair[:1]), _unit(pair[1:])
    total = torch.acos((a * b).sum().clamp(-1, 1))
    out = slerp(a, b, alpha)
    from_a = torch.acos((a * out).sum().clamp(-1, 1))
    assert float(from_a) == pytest.approx(alpha * float(total), abs=1e-5)


def test_slerp_nearly_parallel_falls_back_to_lerp():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 1e-6, 0.0]])
    assert torch.allclose(slerp(a, b, 0.5), lerp(a, b, 0.5), atol=1e-6)
    assert torch.isfinite(slerp(a, a, 0.3)).all()


def test_check_alpha():
    check_alpha(torch.tensor([0.0, 0.5, 1.0]))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            check_alpha(bad)


@pytest.fixture
def characters(dev_split):
    (X_train, _), _ = dev_split
    return X_train[:16]


@pytest.mark.parametrize("ranges", [AffineRanges.characters(), AffineRanges.natural()])
def test_interpolated_params_reproduce_endpoints(ranges):
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 32, 32, generator=gen)
    p1 = sample_params(6, ranges, 32, gen)
    p2 = sample_params(6, ranges, 32, gen)
    assert torch.equal(interpolate_params(p1, p2, 0.0), p1)
    assert torch.equal(interpolate_params(p1, p2, 1.0), p2)
    assert torch.allclose(apply_params(images, interpolate_params(p1, p2, torch.zeros(6))), apply_params(images, p1))
    assert torch.allclose(apply_params(images, interpolate_params(p1, p2, torch.ones(6))), apply_params(images, p2))


def test_interpolate_params_weights_the_second_argument_like_lerp():
    gen = torch.Generator().manual_seed(5)
    p1 = sample_params(8, AffineRanges.natural(), 28, gen)
    p2 = sample_params(8, AffineRanges.natural(), 28, gen)
    alpha = torch.rand(8, generator=gen)
    mixed = interpolate_params(p1, p2, alpha)
    assert torch.allclose(mixed, lerp(p1, p2, alpha), atol=1e-6)
    assert torch.allclose(interpolate_params(p1, p2, 0.25), lerp(p1, p2, 0.25), atol=1e-6)


def test_identity_params_leave_images_unchanged(characters):
    out = apply_params(characters, identity_params(len(characters)))
    assert torch.allclose(out, characters, atol=1e-5)


def test_sampled_params_lie_in_the_paper_ranges():
    params = sample_params(2000, AffineRanges.characters(), 28, torch.Generator().manual_seed(1))
    rotation, tx, ty, scale, shear = params[:, :5].T
    assert rotation.abs().max() <= 20 and tx.abs().max() <= 4 and ty.abs().max() <= 4
    assert 0.8 <= scale.min() and scale.max() <= 1.2 and shear.abs().max() <= 6
    assert rotation.abs().max() > 18  # the range is really used
    natural = sample_params(2000, AffineRanges.natural(), 28, torch.Generator().manual_seed(1))
    assert natural[:, 0].abs().max() <= 10 and natural[:, 1].abs().max() > 7 and natural[:, 8].abs().max() <= 0.05


def test_batched_application_equals_one_by_one(characters):
    params = sample_params(len(characters), AffineRanges(), 28, torch.Generator().manual_seed(2))
    batched = apply_params(characters, params)
    single = torch.cat([apply_params(characters[i : i + 1], params[i : i + 1]) for i in range(len(characters))])
    assert torch.allclose(batched, single, atol=1e-6)


def test_triplets_mix_the_parameters_of_a_and_b(characters):
    a, b, c, alpha = augmentation_triplets(characters, generator=torch.Generator().manual_seed(3))
    assert a.shape == b.shape == c.shape == characters.shape
    assert alpha.shape == (len(characters),) and bool(((alpha >= 0) & (alpha <= 1)).all())
    # replay the same draws: C is the image under the alpha-mixed parameters
    gen = torch.Generator().manual_seed(3)
    p1 = sample_params(len(characters), AffineRanges(), 28, gen)
    p2 = sample_params(len(characters), AffineRanges(), 28, gen)
    assert torch.allclose(a, apply_params(characters, p1), atol=1e-6)
    # C = f(x; alpha rho1 + (1 - alpha) rho2): alpha weights A's parameters
    assert torch.equal(c, apply_params(characters, interpolate_params(p2, p1, alpha)))
    # the views really differ, and ink is preserved roughly (no blank outputs)
    assert float((a - b).abs().mean()) > 0.01
    assert float(c.sum()) > 0.5 * float(characters.sum())


def test_triplet_alpha_is_biased_to_the_midpoint():
    _, _, _, alpha = augmentation_triplets(torch.rand(4000, 1, 8, 8), generator=torch.Generator().manual_seed(4))
    # mean of two uniforms: mean 1/2, variance 1/24 (a single uniform has 1/12)
    assert float(alpha.mean()) == pytest.approx(0.5, abs=0.02)
    assert float(alpha.var()) == pytest.approx(1 / 24, rel=0.15)
    assert math.isclose(float(alpha.min()), 0.0, abs_tol=0.05)


@settings(max_examples=25, deadline=None)
@given(max_shift=st.integers(0, 12), channels=st.sampled_from([1, 3]), seed=st.integers(0, 10_000))
def test_shift_images_equals_an_integer_affine_translation(max_shift, channels, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(17, channels, 9, 11, generator=generator)
    shifts = torch.randint(-max_shift, max_shift + 1, (17, 2), generator=generator)
    params = identity_params(17)
    params[:, 1:3] = shifts.float()
    assert torch.allclose(shift_images(images, shifts), apply_params(images, params), atol=1e-5)


def test_shift_images_bad_shape():
    with pytest.raises(ValueError, match="shifts must have shape"):
        shift_images(torch.zeros(3, 1, 4, 4), torch.zeros(2, 2))


def _shift_by_padded_crops(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Reference: crop each zero-padded image at offsets drawn as ``random_shift`` documents."""
    n, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2))
    return torch.stack(
        [padded[i, :, int(r) : int(r) + height, int(c) : int(c) + width] for i, (r, c) in enumerate(offsets)]
    )


@pytest.mark.parametrize("max_shift", [1, 3, 12])
def test_random_shift_equals_cropping_padded_images(max_shift):
    images = torch.rand(40, 2, 9, 11, generator=torch.Generator().manual_seed(max_shift))
    torch.manual_seed(0)
    expected = _shift_by_padded_crops(images, max_shift)
    torch.manual_seed(0)
    assert torch.equal(random_shift(images, max_shift), expected)
    generator = torch.Generator().manual_seed(1)
    again = random_shift(images, max_shift, generator=torch.Generator().manual_seed(1))
    assert torch.equal(random_shift(images, max_shift, generator=generator), again)


def test_random_shift_zero_draws_nothing_and_checks_max_shift():
    images = torch.rand(4, 1, 5, 5)
    state = torch.random.get_rng_state()
    assert random_shift(images, 0) is images
    assert torch.equal(torch.random.get_rng_state(), state)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_shift"):
            random_shift(images, bad)


# ------------------------------------------------------------------ rendering jitter
def test_soften_strokes_blurs_and_fades_within_its_ranges():
    images = torch.zeros(400, 1, 9, 9)
    images[:, :, 4, :] = 1.0  # one bright horizontal stroke
    generator = torch.Generator().manual_seed(0)
    out = soften_strokes(images, generator=generator)
    assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    untouched = (out == images).flatten(1).all(1)
    assert 0.15 < float(untouched.float().mean()) < 0.35  # neither blurred nor faded: 0.5 * 0.5
    peak = out[:, 0, 4, 4]
    assert float(peak.min()) >= 0.6 * float(gaussian_kernel(1.2)[0, 0, :, 2].sum() * 0.99)
    assert float(out[:, 0, 2, 4].max()) > 0  # blur spreads ink off the stroke
    # the total ink of a row profile survives a blur (normalised kernel), fading only scales it
    assert torch.all(out[:, 0, :, 4].sum(1) <= 1.0 + 1e-5)
    same = soften_strokes(images, blur_probability=0.0, fade_probability=0.0)
    assert torch.equal(same, images)


def test_soften_strokes_is_reproducible_and_validates():
    images = torch.rand(20, 3, 8, 8)
    a = soften_strokes(images, generator=torch.Generator().manual_seed(3))
    b = soften_strokes(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="blur_probability"):
        soften_strokes(images, blur_probability=1.5)
    with pytest.raises(ValueError, match="fade"):
        soften_strokes(images, fade=(0.9, 0.5))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(0.0)


# ------------------------------------------------------------ natural (RGB) ranges
def _bright_pixel(size: int) -> torch.Tensor:
    image = torch.zeros(1, 3, size, size)
    image[..., size // 2, size // 2] = 1.0
    return image


def _centroid_x(image: torch.Tensor) -> torch.Tensor:
    mass = image.sum(dim=(0, 1))  # (C, H, W) -> (W,)
    return (mass * torch.arange(image.shape[-1])).sum() / mass.sum()


@pytest.mark.parametrize("size", [84, 128])
def test_natural_translation_is_8_absolute_pixels_at_any_size(size):
    ranges = AffineRanges.natural()
    assert ranges.reference_size is None and ranges.translation_at(size) == (-8.0, 8.0)
    params = sample_params(2000, ranges, size, torch.Generator().manual_seed(0))
    assert params[:, 1:3].abs().max() <= 8.0 and params[:, 1:3].abs().max() > 7.9
    # a pure translation by the largest sampled tx moves a bright pixel by that many pixels
    shift = identity_params(1)
    shift[0, 1] = params[:, 1].max()
    moved = apply_params(_bright_pixel(size), shift, ranges.padding_mode)
    displacement = _centroid_x(moved[0]) - _centroid_x(_bright_pixel(size)[0])
    assert displacement.item() == pytest.approx(params[:, 1].max().item(), abs=0.01)


def test_character_translation_still_scales_from_28_px():
    ranges = AffineRanges.characters()
    assert ranges.reference_size == 28 and ranges.padding_mode == "zeros"
    assert ranges.translation_at(28) == (-4.0, 4.0) and ranges.translation_at(84) == (-12.0, 12.0)
    params = sample_params(2000, ranges, 84, torch.Generator().manual_seed(0))
    assert params[:, 1:3].abs().max() <= 12.0 and params[:, 1:3].abs().max() > 11.9
    # the scaled() ranges keep their convention
    assert AffineRanges.natural().scaled(0.5).translation_at(128) == (-4.0, 4.0)


def test_natural_ranges_pad_symmetrically():
    # shifting right by 2 px mirrors the first columns, edge pixel included (numpy's "symmetric")
    row = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    image = row.expand(1, 3, 5, 5).contiguous()
    shift = identity_params(1)
    shift[0, 1] = 2.0
    out = apply_params(image, shift, AffineRanges.natural().padding_mode)
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.2, 0.1, 0.1, 0.2, 0.3]), atol=1e-6)
    # every augmentation of a flat RGB image stays flat: no black borders come in
    flat = torch.full((4, 3, 32, 32), 0.6)
    a, b, c, _ = augmentation_triplets(flat, AffineRanges.natural(), torch.Generator().manual_seed(0))
    for views in (a, b, c):
        spread = views.amax(dim=(2, 3)) - views.amin(dim=(2, 3))
        assert spread.max() < 1e-4


def test_umtra_rgb_augmentation_uses_the_natural_padding():
    from metaaug import UMTRA

    flat = torch.full((4, 3, 32, 32), 0.6)
    out = UMTRA(device="cpu").fit(flat).augment(flat, random_state=0)
    assert (out.amax(dim=(2, 3)) - out.amin(dim=(2, 3))).max() < 1e-4
    grey = UMTRA(device="cpu").fit(flat[:, :1]).augment(flat[:, :1], random_state=0)
    assert grey.amin() == 0  # characters keep zero padding


def test_affine_ranges_reject_bad_padding_and_reference_size():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        AffineRanges(padding_mode="mirror")
    with pytest.raises(ValueError, match="reference_size must be a positive"):
        AffineRanges(reference_size=0)
