"""Offline generation metrics: feature extractor, FID/KID, diversity, faithfulness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from torch import nn

from metaaug.metrics import (
    LPIPS,
    DomainClassifier,
    DomainFeatureExtractor,
    SeedClassClassifier,
    augintae_fid_protocol,
    augintae_misclassification,
    class_faithfulness,
    compute_features,
    diversity,
    domain_misclassification,
    feature_diversity,
    fid,
    fidelity_inception,
    fit_prototype_judge,
    frechet_distance,
    inception_classifier,
    inception_feature_extractor,
    inception_score,
    kernel_distance,
    kid,
    lofgan_protocol,
    lpips_network,
    mean_pairwise_distance,
    nearest_seed_distance,
    pairwise_diversity,
    prototype_faithfulness,
    torchvision_weights_path,
)


def flatten(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1)


@pytest.fixture(scope="module")
def omniglot_extractor(dev_split):
    """A small domain extractor trained on the dev split's training alphabets (a few seconds)."""
    (X_train, y_train), _ = dev_split
    return DomainFeatureExtractor(hidden=16, epochs=2, batch_size=32, lr=3e-3, random_state=0, verbose=False).fit(
        X_train, y_train
    )


@pytest.fixture(scope="module")
def novel_sets(dev_split):
    """Per novel class: 3 seeds, 8 reference images, the rest held out (Korean + Tagalog)."""
    _, (X_test, y_test) = dev_split
    classes = torch.unique(y_test)
    per_class = [X_test[y_test == c] for c in classes]
    return ([x[:3] for x in per_class], [x[3:11] for x in per_class], [x[11:] for x in per_class])


# ------------------------------------------------------------ prototype faithfulness
def test_prototype_faithfulness_on_digits(digits):
    X, y = digits
    seeds = [X[y == c][:5] for c in range(10)]
    held_out = [X[y == c][5:40] for c in range(10)]
    real = prototype_faithfulness(flatten, seeds, held_out)
    assert 0.7 < real <= 1.0
    # with a linear embedding the seed mean embeds onto its prototype exactly
    assert prototype_faithfulness(flatten, seeds, [s.mean(0, keepdim=True) for s in seeds]) == 1.0
    shuffled = held_out[1:] + held_out[:1]  # every class generated from the wrong seeds
    assert prototype_faithfulness(flatten, seeds, shuffled) < 0.2


def test_prototype_faithfulness_accepts_modules_and_embed_objects(digits):
    X, y = digits
    seeds = [X[y == c][:3] for c in range(3)]
    generated = [X[y == c][3:10] for c in range(3)]
    module = nn.Flatten()
    module.train()

    class WithEmbed:
        def embed(self, images):
            return images.flatten(1)

    assert prototype_faithfulness(module, seeds, generated) == prototype_faithfulness(WithEmbed(), seeds, generated)
    assert module.training  # mode restored
    as_numpy = [g.numpy() for g in generated]
    assert prototype_faithfulness(flatten, seeds, as_numpy) == prototype_faithfulness(flatten, seeds, generated)


def test_prototype_faithfulness_bad_input(digits):
    X, _ = digits
    seeds = [X[:3], X[3:6]]
    with pytest.raises(ValueError, match="classes"):
        prototype_faithfulness(flatten, seeds, [X[:4]])
    with pytest.raises(ValueError, match="at least 2 classes"):
        prototype_faithfulness(flatten, seeds[:1], [X[:4]])
    with pytest.raises(ValueError, match="shape"):
        prototype_faithfulness(flatten, seeds, [X[:4], torch.zeros(4, 1, 9, 9)])
    nan = X[:4].clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        prototype_faithfulness(flatten, seeds, [X[:4], nan])
    with pytest.raises(ValueError, match="list"):
        prototype_faithfulness(flatten, X[:6], X[:6])
    with pytest.raises(ValueError, match="embed"):
        prototype_faithfulness(42, seeds, [X[:4], X[4:8]])


# ------------------------------------------------------------ feature extractor
def test_extractor_is_deterministic_and_round_trips(digits, tmp_path):
    X, y = digits
    first = DomainFeatureExtractor(hidden=8, epochs=1, random_state=3, verbose=False).fit(X[:400], y[:400])
    second = DomainFeatureExtractor(hidden=8, epochs=1, random_state=3, verbose=False).fit(X[:400], y[:400])
    features = first.embed(X[:50])
    assert features.shape == (50, first.n_features_)
    assert torch.equal(features, second.embed(X[:50]))
    path = first.save(tmp_path / "extractor.pt")
    loaded = DomainFeatureExtractor.load(path)
    assert torch.equal(loaded.embed(X[:50]), features)
    assert torch.allclose(compute_features(loaded, X[:50], batch_size=7), features, atol=1e-5)


def test_extractor_records_its_training(digits):
    X, y = digits
    extractor = DomainFeatureExtractor(hidden=4, epochs=2, batch_size=64, random_state=0, verbose=False)
    extractor.fit(X[:200], y[:200])
    assert extractor.n_iter_ == 2 * 4  # 2 epochs of ceil(200 / 64) batches
    assert extractor.loss_curve_.dtype == np.float32 and extractor.loss_curve_.shape == (extractor.n_iter_,)
    assert np.isfinite(extractor.loss_curve_).all() and extractor.fit_time_ > 0
    network = extractor.network_
    network.train()
    extractor.embed(X[:3])
    assert network.training  # embedding restores the network's mode


@pytest.mark.parametrize(
    "params, name",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"max_shift": -1}, "max_shift"),
        ({"max_time": 0}, "max_time"),
        ({"hidden": 0}, "hidden"),
        ({"verbose": "yes"}, "verbose"),
    ],
)
def test_extractor_parameters_are_checked(digits, params, name):
    X, y = digits
    with pytest.raises(ValueError, match=name):
        DomainFeatureExtractor(**params).fit(X[:20], y[:20])


def test_extractor_bad_input(digits):
    X, y = digits
    with pytest.raises(ValueError, match="2 classes"):
        DomainFeatureExtractor(epochs=1).fit(X[:10], np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="labels"):
        DomainFeatureExtractor(epochs=1).fit(X[:10], y[:9])
    with pytest.raises(NotFittedError):
        DomainFeatureExtractor().embed(X[:2])
    extractor = DomainFeatureExtractor(hidden=4, epochs=1, random_state=0, verbose=False).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="shape"):
        extractor.embed(torch.zeros(2, 1, 28, 28))


# ------------------------------------------------------------ FID / KID
def test_fid_of_a_set_against_itself_is_zero_and_symmetric(omniglot_extractor, novel_sets):
    _, reference, held_out = novel_sets
    real, other = torch.cat(reference), torch.cat(held_out)
    assert fid(omniglot_extractor, real, real) == pytest.approx(0.0, abs=1e-6)
    forward, backward = fid(omniglot_extractor, real, other), fid(omniglot_extractor, other, real)
    assert forward > 0
    assert forward == pytest.approx(backward, rel=1e-9)


def test_fid_grows_with_gaussian_noise(omniglot_extractor, novel_sets):
    _, reference, held_out = novel_sets
    real_features = compute_features(omniglot_extractor, torch.cat(reference))
    images = torch.cat(held_out)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    scores = [
        frechet_distance(real_features, compute_features(omniglot_extractor, (images + sigma * noise).clamp(0, 1)))
        for sigma in (0.0, 0.1, 0.3, 0.6)
    ]
    assert scores == sorted(scores) and scores[-1] > 2 * scores[0]


def test_kid_subset_size_reduction_and_determinism():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(120, 8, generator=gen), torch.randn(80, 8, generator=gen) + 1.0
    with pytest.raises(ValueError, match="subset_size"):
        kernel_distance(a, b, subset_size=100)
    automatic = kernel_distance(a, b, subsets=20)  # subset_size reduced to 80
    assert automatic == kernel_distance(a, b, subsets=20, subset_size=80)
    assert automatic == kernel_distance(a, b, subsets=20)
    assert automatic[0] > kernel_distance(a, a[60:], subsets=20)[0]
    torch.manual_seed(1)
    assert kernel_distance(a, b, subsets=20, random_state=5) == kernel_distance(a, b, subsets=20, random_state=5)


def test_fid_kid_bad_input(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="shape"):
        fid(flatten, X[:20], torch.zeros(20, 1, 9, 9))
    nan = X[:20].clone()
    nan[3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        kid(flatten, X[:20], nan)
    with pytest.raises(ValueError, match="dimensions"):
        frechet_distance(torch.randn(10, 4), torch.randn(10, 5))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.randn(10, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((10, 4), float("nan")), torch.randn(10, 4))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        inception_feature_extractor("/nonexistent/pt_inception.pth")


# ------------------------------------------------------------ diversity
@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 6), seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0))
def test_feature_diversity_properties(n, d, seed, scale):
    features = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    labels = np.zeros(n, dtype=int)
    value = feature_diversity(features, labels)
    assert value >= 0
    assert feature_diversity(features * scale, labels) == pytest.approx(scale * value, rel=1e-9, abs=1e-12)
    assert feature_diversity(features[torch.randperm(n)], labels) == pytest.approx(value, rel=1e-9)
    assert feature_diversity(features[:1].repeat(n, 1), labels) == 0.0


def test_diversity_of_copies_is_zero(omniglot_extractor, novel_sets):
    seeds, reference, _ = novel_sets
    copies = [s[:1].repeat(6, 1, 1, 1) for s in seeds[:5]]
    assert diversity(omniglot_extractor, copies) == 0.0
    assert diversity(omniglot_extractor, reference[:5]) > 0.0
    l1 = lambda a, b: (a - b).abs().flatten(1).mean(1)  # noqa: E731 - a stand-in for LPIPS
    assert pairwise_diversity(l1, copies) == 0.0
    assert pairwise_diversity(l1, reference[:5]) == pairwise_diversity(l1, reference[:5]) > 0.0
    with pytest.raises(ValueError, match="at least 2"):
        diversity(omniglot_extractor, [seeds[0][:1]])
    with pytest.raises(ValueError, match=">= 2"):
        feature_diversity(torch.randn(3, 2), [0, 0, 1])


# ------------------------------------------------------------ domain and class faithfulness
def test_domain_misclassification_low_for_novel_high_for_training(omniglot_extractor, dev_split, novel_sets):
    (X_train, _), _ = dev_split
    seeds, reference, held_out = novel_sets
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(X_train), generator=gen)
    train_fit, train_held_out = X_train[order[:1500]], X_train[order[1500:2000]]
    features = lambda x: compute_features(omniglot_extractor, x)  # noqa: E731
    classifier = DomainClassifier().fit(features(train_fit), features(torch.cat(seeds + reference)))
    novel_rate = classifier.misclassification_rate(features(torch.cat(held_out)))
    train_rate = classifier.misclassification_rate(features(train_held_out))
    # the tiny test extractor separates the domains less well than the shared one (13% / 97%)
    assert novel_rate < 0.35
    assert train_rate > 0.8
    # the one-call form fits the same classifier (on fewer images here, to keep the test fast)
    few_train, few_novel = train_fit[:300], torch.cat(seeds + reference)[:300]
    small = DomainClassifier().fit(features(few_train), features(few_novel))
    assert domain_misclassification(
        omniglot_extractor, few_train, few_novel, torch.cat(held_out)
    ) == small.misclassification_rate(features(torch.cat(held_out)))
    with pytest.raises(NotFittedError):
        DomainClassifier().misclassification_rate(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="dimensions"):
        classifier.misclassification_rate(torch.zeros(3, 2))


def test_class_faithfulness_ranks_real_over_noise(omniglot_extractor, novel_sets):
    seeds, reference, held_out = novel_sets
    real_sets = [torch.cat([s, r]) for s, r in zip(seeds, reference)]
    real = class_faithfulness(omniglot_extractor, real_sets, held_out)
    noise = [torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(i)) for i in range(len(seeds))]
    assert real > 0.5
    assert class_faithfulness(omniglot_extractor, real_sets, noise) < 0.1
    assert class_faithfulness(omniglot_extractor, real_sets, held_out) == real  # deterministic
    with pytest.raises(ValueError, match="classes"):
        class_faithfulness(omniglot_extractor, real_sets, held_out[:-1])
    with pytest.raises(ValueError, match="2 classes"):
        SeedClassClassifier().fit(torch.zeros(4, 3), [1, 1, 1, 1])


def test_fit_prototype_judge_trains_on_softened_episodes(digits, monkeypatch):
    import metaaug.augment.rendering as rendering

    X, y = digits
    calls = []
    original = rendering.soften_strokes
    monkeypatch.setattr(rendering, "soften_strokes", lambda images: calls.append(len(images)) or original(images))
    judge = fit_prototype_judge(X, y, n_ways=5, k_shot=1, k_query=2, max_time=None, n_iterations=3)
    assert judge.n_iter_ == 3 and judge.embed(X[:4]).shape[0] == 4
    assert calls[0] == 5 * (1 + 2) and len(calls) >= 2  # the probe task, then the batched task stream
    assert all(n % 15 == 0 for n in calls)
    calls.clear()
    fit_prototype_judge(X, y, soften=False, n_ways=5, k_shot=1, k_query=2, max_time=None, n_iterations=2)
    assert calls == []


def test_fit_prototype_judge_with_rotated_classes_samples_rotated_episodes(digits, monkeypatch):
    import metaaug.data.tasks as tasks

    X, y = digits
    seen = []
    original = tasks.LabeledTaskSampler.__init__

    def spy(self, X_, y_):
        seen.append((len(X_), len(torch.unique(torch.as_tensor(y_)))))
        original(self, X_, y_)

    monkeypatch.setattr(tasks.LabeledTaskSampler, "__init__", spy)
    fit_prototype_judge(
        X[:200],
        y[:200],
        soften=False,
        rotated_classes=True,
        n_ways=5,
        k_shot=1,
        k_query=2,
        max_time=None,
        n_iterations=2,
    )
    fit_prototype_judge(X[:200], y[:200], soften=False, n_ways=5, k_shot=1, k_query=2, max_time=None, n_iterations=2)
    assert seen == [(800, 40), (200, 10)]


def test_nearest_seed_distance_is_zero_for_copies_and_the_closest_seed_otherwise():
    seeds = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    generated = torch.stack([torch.ones(1, 4, 4), torch.full((1, 4, 4), 0.25), torch.full((1, 4, 4), 0.6)])
    distances = nearest_seed_distance(generated, seeds)
    assert torch.allclose(distances, torch.tensor([0.0, 0.25, 0.4]))
    with pytest.raises(ValueError, match="shape"):
        nearest_seed_distance(generated, torch.zeros(2, 1, 5, 5))


# ------------------------------------------------------------ LPIPS and Inception Score (local weights only)
@pytest.fixture(scope="module")
def squeeze_weights(tmp_path_factory):
    """A torchvision SqueezeNet 1.1 weights file (random weights: the stand-in for the ImageNet file)."""
    from metaaug._compat import import_torchvision

    torchvision = import_torchvision()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "squeezenet1_1-b8a52dc0.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    return path


def test_lpips_network_loads_the_local_backbone_and_measures_grey_images(squeeze_weights, digits):
    lpips = lpips_network("squeeze", squeeze_weights, image_size=32)
    saved = torch.load(squeeze_weights)
    assert torch.equal(lpips.network.net.slices[0][0].weight, saved["features.0.weight"])  # the file, not random init
    X, y = digits
    a, b = X[:6], X[6:12]
    distances = lpips(a, b)
    assert distances.shape == (6,) and bool((distances > 0).all())
    assert torch.allclose(lpips(a, a), torch.zeros(6), atol=1e-6)
    assert torch.allclose(lpips(b, a), distances, atol=1e-5)  # symmetric
    assert torch.allclose(lpips(a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)), distances)  # grey = repeated RGB
    # the same distance drives pairwise diversity
    assert pairwise_diversity(lpips, [X[y == 0][:5], X[y == 1][:5]], max_pairs=4) > 0
    with pytest.raises(ValueError, match="one shape"):
        lpips(a, X[:5])
    with pytest.raises(ValueError, match="net must be one of"):
        lpips_network("resnet", squeeze_weights)


class RecordingLpips(nn.Module):
    """Stand-in LPIPS network: applies ``normalize`` as torchmetrics does and returns the inputs' mean gap."""

    def forward(self, first: torch.Tensor, second: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        if normalize:
            first, second = 2 * first - 1, 2 * second - 1
        self.seen = (first, second)
        return (first - second).abs().mean((1, 2, 3), keepdim=True)


def test_lpips_scaling_lofgan_code_maps_to_minus_one_twice_like_the_official_script():
    images = torch.rand(4, 3, 64, 64)  # 64 px: not resized
    standard = LPIPS(RecordingLpips())
    standard(images, images.flip(0))
    assert torch.allclose(standard.network.seen[0], 2 * images - 1)  # [-1, 1], once
    official = LPIPS(RecordingLpips(), scaling="lofgan-code")
    doubled = official(images, images.flip(0))
    assert torch.allclose(official.network.seen[0], 4 * images - 3)  # [-3, 1]: im2tensor, then normalize=True
    assert torch.allclose(doubled, 2 * standard(images, images.flip(0)))
    with pytest.raises(ValueError, match="scaling must be"):
        LPIPS(RecordingLpips(), scaling="tf")


def test_missing_or_wrong_weights_raise_naming_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    assert torchvision_weights_path("AlexNet_Weights") == checkpoints / "alexnet-owt-7be5be79.pth"
    with pytest.raises(FileNotFoundError, match="alexnet-owt-7be5be79.pth.*never downloads"):
        lpips_network("alex")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "elsewhere.pth")):
        lpips_network("vgg", tmp_path / "elsewhere.pth")
    with pytest.raises(FileNotFoundError, match="inception_v3_google-0cc3c7bd.pth"):
        inception_classifier()
    with pytest.raises(FileNotFoundError, match="weights-inception-2015-12-05-6726825d.pth"):
        inception_classifier(source="torch-fidelity")
    wrong = tmp_path / "wrong.pth"
    torch.save({"classifier.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match="not a torchvision squeezenet1_1 weights file"):
        lpips_network("squeeze", wrong)


@pytest.fixture(scope="module")
def fidelity_weights(tmp_path_factory):
    """torch-fidelity's Inception, randomly initialised, saved under its weights file's name."""
    inception = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with pytest.MonkeyPatch.context() as patch:  # build the network without the download and the load
        patch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("hub") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(network.state_dict(), path)
    return path


def test_fidelity_inception_features_and_logits_from_a_local_file(fidelity_weights, tmp_path, monkeypatch):
    grey = torch.rand(2, 1, 28, 28)
    features = inception_feature_extractor(fidelity_weights)
    out = features(grey)
    assert out.shape == (2, 2048) and features.num_features == 2048 and bool(torch.isfinite(out).all())
    assert torch.allclose(out, features(grey.expand(-1, 3, -1, -1)))  # grey is repeated to RGB
    assert not torch.equal(out[0], out[1])
    assert inception_classifier(fidelity_weights, source="torch-fidelity")(grey).shape == (2, 1008)
    # None: where torch-fidelity's own download would leave the file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / fidelity_weights.name
    with pytest.raises(FileNotFoundError, match=str(expected)):
        inception_feature_extractor()


def test_fidelity_inception_refuses_other_files(tmp_path):
    pytest.importorskip("torch_fidelity")
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "note": OneHotClassifier(2)}, code)  # unpickling builds a module
    with pytest.raises(ValueError, match="code.pth is not a torch-fidelity Inception.*plain tensors"):
        inception_feature_extractor(code)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(ValueError, match="other.pth is not a torch-fidelity Inception"):
        inception_classifier(other, source="torch-fidelity")
    with pytest.raises(ValueError, match="output must be one of"):
        fidelity_inception("pool3", other)


def test_torchvision_inception_classifier_from_a_local_file(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    path = tmp_path / "inception.pth"
    torch.save(torchvision.models.inception_v3(weights=None, init_weights=False).state_dict(), path)
    logits = inception_classifier(path)(torch.rand(2, 1, 28, 28))
    assert logits.shape == (2, 1000) and bool(torch.isfinite(logits).all())
    wrong = tmp_path / "alexnet.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="alexnet.pth is not a torchvision Inception-v3 ImageNet weights file"):
        inception_classifier(wrong)


class OneHotClassifier(nn.Module):
    """Stand-in Inception: confident logits for the class coded by an image's mean brightness."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        label = (images.mean((1, 2, 3)) * self.n_classes).long().clamp(max=self.n_classes - 1)
        return 20.0 * nn.functional.one_hot(label, self.n_classes).float()


def test_inception_score_with_a_stand_in_classifier():
    levels = (torch.arange(40) % 4).float() / 4 + 0.1  # 4 classes, 10 images each
    images = levels[:, None, None, None].expand(-1, 1, 6, 6)
    mean, std = inception_score(OneHotClassifier(4), images, splits=1)
    assert mean == pytest.approx(4.0, rel=1e-3) and std == 0.0  # confident and uniform: K
    assert inception_score(OneHotClassifier(4), images[levels == 0.1], splits=2)[0] == pytest.approx(1.0)
    # the exact formula on arbitrary logits, one split
    logits = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    p = logits.softmax(1)
    expected = torch.exp((p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean())
    assert inception_score(lambda batch: logits[: len(batch)], torch.rand(30, 1, 4, 4), splits=1)[0] == pytest.approx(
        float(expected), rel=1e-6
    )
    assert inception_score(OneHotClassifier(4), images, splits=4, random_state=1) == inception_score(
        OneHotClassifier(4), images, splits=4, random_state=1
    )
    with pytest.raises(ValueError, match="at least 50 images"):
        inception_score(OneHotClassifier(4), images, splits=50)


# ------------------------------------------------------------ the papers' protocols
class RecordingGenerator:
    """Pixel mixup of two seeds that records every call."""

    def __init__(self, constant: bool = False) -> None:
        self.calls: list[tuple[torch.Tensor, int]] = []
        self.constant = constant

    def generate(self, seeds, n, random_state=None):
        self.calls.append((seeds.clone(), n))
        if self.constant:
            return torch.full((n, *seeds.shape[1:]), 0.5)
        alpha = torch.from_numpy(np.random.default_rng(random_state).random(n)).float()[:, None, None, None]
        return alpha * seeds[0] + (1 - alpha) * seeds[-1]


def pooled(images: torch.Tensor) -> torch.Tensor:
    return nn.functional.avg_pool2d(images, 2).flatten(1)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().flatten(1).mean(1)


def test_lofgan_protocol_splits_s_in_and_s_real_and_scores_fid_and_lpips(digits):
    X, y = digits
    keep = y < 3
    X, y = X[keep][:90], y[keep][:90]
    generator = RecordingGenerator()
    result = lofgan_protocol(generator, X, y, embed=pooled, lpips=l1, n_in=5, n_generated=4, k_shot=3)
    assert result["n_classes"] == 3 and result["n_generated"] == 12
    assert result["n_real"] == sum(int((y == c).sum()) - 5 for c in range(3))
    assert len(generator.calls) == 12 and all(n == 1 and len(seeds) == 3 for seeds, n in generator.calls)
    for i, (seeds, _) in enumerate(generator.calls):  # seeds come from S_in: the first 5 images of the class
        s_in = X[y == i // 4][:5].flatten(1)
        assert bool((torch.cdist(seeds.flatten(1), s_in).min(1).values == 0).all())
    expected = np.mean([mean_pairwise_distance(l1, g) for g in result["generated"]])
    assert result["lpips"] == pytest.approx(expected) and result["lpips"] > 0 and result["fid"] > 0
    again = lofgan_protocol(RecordingGenerator(), X, y, embed=pooled, lpips=l1, n_in=5, n_generated=4, k_shot=3)
    assert again["fid"] == result["fid"]
    constant = lofgan_protocol(RecordingGenerator(constant=True), X, y, embed=pooled, lpips=l1, n_in=5, n_generated=4)
    assert constant["lpips"] == 0.0 and constant["fid"] > result["fid"]
    # the revised official script: classes shuffled first, 128 real images per class drawn from S_real
    revised = RecordingGenerator()
    result = lofgan_protocol(revised, X, y, embed=pooled, n_in=5, n_generated=4, shuffle=True, n_real=7)
    assert result["n_real"] == 21 and result["n_generated"] == 12
    seen = torch.cat([seeds for seeds, _ in revised.calls]).flatten(1)
    first_five = torch.cat([X[y == c][:5] for c in range(3)]).flatten(1)
    assert not bool((torch.cdist(seen, first_five).min(1).values == 0).all())  # S_in is no longer the first five
    with pytest.raises(ValueError, match="n_real must be >= 1"):
        lofgan_protocol(generator, X, y, embed=pooled, n_real=0)
    with pytest.raises(ValueError, match="more than n_in=40"):
        lofgan_protocol(generator, X, y, embed=pooled, n_in=40)
    with pytest.raises(ValueError, match="generate"):
        lofgan_protocol(object(), X, y, embed=pooled)


def test_augintae_fid_protocol_keeps_seeds_out_of_the_real_set(digits):
    X, y = digits
    keep = y < 3
    X, y = X[keep][:90], y[keep][:90]
    generator = RecordingGenerator()
    result = augintae_fid_protocol(generator, X, y, embed=pooled, k_shot=2, n_per_class=20)
    assert result["n_real"] == len(X) - 6 and result["n_generated"] == 60
    assert [n for _, n in generator.calls] == [20, 20, 20]
    noise = augintae_fid_protocol(RecordingGenerator(constant=True), X, y, embed=pooled, n_per_class=20)
    assert noise["fid"] > result["fid"]
    with pytest.raises(ValueError, match="k_shot < "):
        augintae_fid_protocol(generator, X, y, embed=pooled, k_shot=100)


def test_augintae_misclassification_cnn_on_raw_images(dev_split):
    (X_train, _), (X_test, _) = dev_split
    # "generated" images that are really training-domain drawings: the CNN should call them training
    result = augintae_misclassification(X_train[:300], X_test[:300], X_train[-60:], hidden=8, steps=60)
    assert set(result) == {
        "misclassification",
        "real_novel_misclassification",
        "real_train_misclassification",
        "accuracy",
    }
    assert result["misclassification"] > 0.6
    assert result["real_novel_misclassification"] < 0.4 and result["accuracy"] > 0.6
    with pytest.raises(ValueError, match="held_out"):
        augintae_misclassification(X_train[:10], X_test[:10], X_test[:2], held_out=1.0)
    with pytest.raises(ValueError, match="shape"):
        augintae_misclassification(X_train[:10], X_test[:10], torch.zeros(2, 1, 8, 8))
