"""Every estimator at every common image size, with default parameters and a tiny budget.

The sizes (issue 17): 1x28x28 (Omniglot as the papers use it), 1x105x105
(Omniglot's native size), 3x32x32 (CIFAR-FS), 3x64x64, 3x84x84
(mini-ImageNet), 3x128x128 (Animal Faces, LoFGAN's size) and one non-square
size. For each estimator and size the test fits on a few synthetic images
(coloured shapes, one shape and colour scheme per class), samples tasks /
generates images / predicts, saves, loads, and checks that the loaded model
gives the same outputs. Only the networks' defaults are used: the budget
(epochs, iterations, time) and the task layout are the only settings changed.

The fast suite runs the small sizes; every combination is in the file, the
rest under ``@pytest.mark.slow``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import metaaug
from metaaug.data import LabeledTaskSampler
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier
from metaaug.metrics import DomainFeatureExtractor

N_CLASSES, PER_CLASS = 5, 4
QUIET = {"verbose": False}

# one shape and one (foreground, background) colour pair per class
PALETTE = (
    ((0.9, 0.1, 0.1), (0.1, 0.1, 0.4)),
    ((0.1, 0.8, 0.2), (0.5, 0.1, 0.5)),
    ((0.2, 0.3, 0.9), (0.9, 0.9, 0.6)),
    ((0.95, 0.85, 0.1), (0.1, 0.35, 0.3)),
    ((0.9, 0.9, 0.9), (0.6, 0.2, 0.0)),
)


def _shape_mask(kind: int, yy: torch.Tensor, xx: torch.Tensor, cy: float, cx: float, r: float) -> torch.Tensor:
    dy, dx = yy - cy, xx - cx
    if kind == 0:  # disc
        return dy**2 + dx**2 <= r**2
    if kind == 1:  # square
        return (dy.abs() <= r) & (dx.abs() <= r)
    if kind == 2:  # triangle
        return (dy <= r) & (dy >= -r) & (dx.abs() <= (dy + r) / 2)
    if kind == 3:  # ring
        d2 = dy**2 + dx**2
        return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
    return (dy.abs() <= r / 3) & (dx.abs() <= r) | (dx.abs() <= r / 3) & (dy.abs() <= r)  # cross


def shapes_data(
    shape: tuple[int, int, int], n_classes: int = N_CLASSES, per_class: int = PER_CLASS, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)``: ``per_class`` jittered images of each class's coloured shape, ``X`` in [0, 1]."""
    channels, height, width = shape
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    images, labels = [], []
    for c in range(n_classes):
        foreground, background = (torch.tensor(v).view(3, 1, 1) for v in PALETTE[c % len(PALETTE)])
        for _ in range(per_class):
            cy, cx, r = (0.5 + 0.15 * (torch.rand(2, generator=gen) - 0.5)).tolist() + [
                0.22 + 0.08 * float(torch.rand((), generator=gen))
            ]
            mask = _shape_mask(c % 5, yy, xx, cy, cx, r).float()
            image = mask * foreground + (1 - mask) * background
            if channels == 1:
                image = image.mean(0, keepdim=True)
            images.append(image)
            labels.append(c)
    return torch.stack(images).clamp(0, 1), torch.tensor(labels)


# ----------------------------------------------------------------------------- cases
SAMPLER, GENERATOR, CLASSIFIER, FEATURES = "sampler", "generator", "classifier", "features"
TASK = {"n_ways": 3, "k_shot": 1, "k_query": 2}


def _lasium(**params: Any) -> Callable[[], Any]:
    return lambda: metaaug.LASIUM(epochs=1, batch_size=8, **params, **QUIET)


# name -> (kind, constructor with defaults but a tiny budget, labels needed)
CASES: dict[str, tuple[str, Callable[[], Any]]] = {
    "LASIUM": (SAMPLER, _lasium()),
    "LASIUM-vae": (SAMPLER, _lasium(backend="vae")),
    "LASIUM-gan": (SAMPLER, _lasium(backend="gan")),
    "UMTRA": (SAMPLER, lambda: metaaug.UMTRA()),
    "CACTUs": (SAMPLER, lambda: metaaug.CACTUs(n_partitions=2, n_clusters=N_CLASSES)),
    "AE": (GENERATOR, lambda: metaaug.AE(epochs=1, batch_size=8, **QUIET)),
    "IntAE": (GENERATOR, lambda: metaaug.IntAE(epochs=1, batch_size=8, **QUIET)),
    "AugIntAE": (GENERATOR, lambda: metaaug.AugIntAE(epochs=1, batch_size=8, **QUIET)),
    "LoFGAN": (GENERATOR, lambda: metaaug.LoFGAN(epochs=0.05, meta_batch_size=2, **QUIET)),
    "MetaFAVAE": (GENERATOR, lambda: metaaug.MetaFAVAE(n_iterations=1, max_time=None, inner_iterations=1, **QUIET)),
    "PixelMixup": (GENERATOR, lambda: metaaug.PixelMixup()),
    "ProtoNetClassifier": (CLASSIFIER, lambda: ProtoNetClassifier(n_iterations=1, **TASK, **QUIET)),
    "MAMLClassifier": (
        CLASSIFIER,
        lambda: MAMLClassifier(n_iterations=1, eval_adaptation_steps=1, **TASK, **QUIET),
    ),
    "ScratchClassifier": (CLASSIFIER, lambda: ScratchClassifier(n_ways=3, steps=1)),
    "PixelNearestNeighbor": (CLASSIFIER, lambda: PixelNearestNeighbor()),
    "DomainFeatureExtractor": (FEATURES, lambda: DomainFeatureExtractor(epochs=1, **QUIET)),
}
ESTIMATOR_NAMES = list(CASES)


def _make(name: str) -> Any:
    est = CASES[name][1]()
    params = est.get_params(deep=False)
    settings = {k: v for k, v in {"random_state": 0, "device": "cpu"}.items() if k in params}
    return est.set_params(**settings)


def _output(name: str, est: Any, shape: tuple[int, int, int]) -> torch.Tensor:
    """The estimator's main output at a fixed seed, checked for shape and range."""
    kind = CASES[name][0]
    X, y = shapes_data(shape, seed=1)
    if kind == SAMPLER:
        tasks = est.sample_tasks(2, **TASK, random_state=3)
        out = torch.stack([torch.cat([t.support_x, t.query_x]) for t in tasks])
        assert tuple(out.shape[2:]) == shape
    elif kind == GENERATOR:
        seeds = X[y == 0][:3]
        out = est.generate(seeds, 2) if name == "PixelMixup" else est.generate(seeds, 2, random_state=3)
        assert tuple(out.shape) == (2, *shape)
    elif kind == CLASSIFIER:
        task = LabeledTaskSampler(X, y).sample_tasks(1, **TASK, random_state=0)[0]
        return est.predict(task.support_x, task.support_y, task.query_x)
    else:
        out = est.embed(X)
        assert out.ndim == 2 and len(out) == len(X)
        return out
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    return out


def run_case(name: str, shape: tuple[int, int, int], tmp_path: Path | str) -> None:
    """Fit ``name`` on shapes of ``shape``, produce its output, save, load and compare."""
    kind = CASES[name][0]
    # CACTUs clusters the images: a few more per class so that 3-way tasks find 3-member clusters
    X, y = shapes_data(shape, per_class=3 * PER_CLASS if name == "CACTUs" else PER_CLASS)
    est = _make(name)
    if kind == CLASSIFIER:
        est.fit(LabeledTaskSampler(X, y))
    elif name == "PixelMixup":
        est.fit()
    elif kind == FEATURES or name in ("LoFGAN", "MetaFAVAE"):
        est.fit(X, y)
    else:
        est.fit(X)
    out = _output(name, est, shape)
    if name in ("PixelMixup", "PixelNearestNeighbor"):  # nothing learned, nothing to save
        return
    path = est.save(Path(tmp_path) / "model.pt")
    loaded = metaaug.load(path)
    assert type(loaded) is type(est)
    assert torch.equal(_output(name, loaded, shape), out)


# ----------------------------------------------------------------------------- the matrix
SIZES = {
    "1x28x28": (1, 28, 28),
    "1x105x105": (1, 105, 105),
    "3x32x32": (3, 32, 32),
    "3x64x64": (3, 64, 64),
    "3x84x84": (3, 84, 84),
    "3x128x128": (3, 128, 128),
    "3x48x80": (3, 48, 80),
}

# the fast suite's share (about 20 s on 2 cores): every estimator once, every size at least once
FAST = {
    ("LASIUM", "3x84x84"),
    ("LASIUM-vae", "3x84x84"),
    ("LASIUM-gan", "3x84x84"),
    ("UMTRA", "1x28x28"),
    ("UMTRA", "3x128x128"),
    ("CACTUs", "3x64x64"),
    ("AE", "3x48x80"),
    ("IntAE", "3x32x32"),
    ("AugIntAE", "3x84x84"),
    ("LoFGAN", "3x32x32"),
    ("MetaFAVAE", "1x28x28"),
    ("PixelMixup", "3x48x80"),
    ("ProtoNetClassifier", "3x48x80"),
    ("MAMLClassifier", "1x28x28"),
    ("ScratchClassifier", "1x105x105"),
    ("PixelNearestNeighbor", "3x84x84"),
    ("DomainFeatureExtractor", "3x48x80"),
}
MATRIX = [
    pytest.param(name, size, id=f"{name}-{size}", marks=() if (name, size) in FAST else pytest.mark.slow)
    for name in ESTIMATOR_NAMES
    for size in SIZES
]


@pytest.mark.parametrize("name, size", MATRIX)
def test_fits_produces_saves_and_loads_at_every_size(name, size, tmp_path):
    run_case(name, SIZES[size], tmp_path)


def test_the_matrix_is_complete():
    assert {(n, s) for n, s in FAST} <= {(n, s) for n in ESTIMATOR_NAMES for s in SIZES}
    assert {n for n, _ in FAST} == set(ESTIMATOR_NAMES), "every estimator runs at least once in the fast suite"
    assert {s for _, s in FAST} == set(SIZES), "every size runs at least once in the fast suite"


# ----------------------------------------------------------------------------- layouts and errors
@pytest.mark.parametrize(
    "shape, expected",
    [((1, 28, 28), "infogan"), ((1, 105, 105), "dcgan"), ((3, 84, 84), "dcgan"), ((3, 48, 80), "dcgan")],
)
def test_auto_layout_of_the_autoencoders(shape, expected):
    from metaaug.nets.autoencoders import check_architecture, default_architecture

    assert default_architecture(shape) == expected
    check_architecture(expected, shape)  # the chosen layout works at that size


@pytest.mark.parametrize(
    "shape, n_blocks, last_map",
    [((3, 84, 84), 4, (5, 5)), ((1, 105, 105), 4, (6, 6)), ((3, 48, 80), 3, (6, 10)), ((3, 64, 64), 4, (4, 4))],
)
def test_dcgan_layout_reaches_exactly_the_image_size(shape, n_blocks, last_map):
    from metaaug.nets.autoencoders import Encoder, Generator

    encoder, generator = Encoder(shape, 8, "dcgan", hidden=4).eval(), Generator(shape, 8, "dcgan", hidden=4).eval()
    with torch.no_grad():
        maps = encoder.features(torch.rand(2, *shape))
        assert len(maps) == n_blocks and tuple(maps[-1].shape[2:]) == last_map
        assert tuple(generator(encoder(torch.rand(2, *shape))).shape) == (2, *shape)


def test_a_layout_that_cannot_do_a_size_names_the_sizes_that_work():
    with pytest.raises(ValueError, match=r"dcgan.*>= 16.*84x84.*105x105.*got 12x40"):
        metaaug.AE(architecture="dcgan", epochs=1, **QUIET).fit(torch.rand(4, 3, 12, 40))
    with pytest.raises(ValueError, match=r"Meta-FAVAE.*>= 8.*105x105.*got 6x6"):
        metaaug.MetaFAVAE(n_iterations=1, **QUIET).fit(torch.rand(4, 1, 6, 6), torch.tensor([0, 0, 1, 1]))


@pytest.mark.parametrize("shape, pooled", [((3, 84, 84), (5, 5)), ((3, 48, 80), (3, 5)), ((1, 105, 105), (6, 6))])
def test_conv4_features_follow_both_sides(shape, pooled):
    from metaaug.nets import Conv4

    net = Conv4(shape[0], 4, shape[1:])
    assert net.out_features == 4 * math.prod(pooled)
    assert net(torch.rand(2, *shape)).shape == (2, net.out_features)


def test_lasium_chooses_and_passes_through_its_networks():
    X, _ = shapes_data((3, 84, 84))
    vae = metaaug.LASIUM(backend="vae", epochs=1, batch_size=8, random_state=0, device="cpu", **QUIET).fit(X)
    assert vae.architecture_ == "natural" and vae.backend_.latent_dim == 512
    assert len(vae.backend_.encoder.features) == 3 * 5 + 1  # five conv blocks, as the authors' 84x84 VAE
    grey, _ = shapes_data((1, 28, 28))
    small = metaaug.LASIUM(backend="vae", epochs=1, batch_size=8, random_state=0, device="cpu", **QUIET).fit(grey)
    assert small.architecture_ == "characters" and small.backend_.latent_dim == 20
    ae = metaaug.LASIUM(architecture="infogan", hidden=4, epochs=1, random_state=0, device="cpu", **QUIET).fit(X)
    assert ae.backend_.architecture_ == "infogan" and ae.backend_.hidden == 4
    with pytest.raises(ValueError, match=r"architecture 'natural' does not apply to backend 'ae'.*infogan"):
        metaaug.LASIUM(architecture="natural", **QUIET).fit(X)
    with pytest.raises(ValueError, match=r"architecture 'dcgan' does not apply to backend 'gan'.*characters"):
        metaaug.LASIUM(backend="gan", architecture="dcgan", **QUIET).fit(X)
