"""Reliability (issue 21): safe and checked model files, atomic and healthy fits, nested settings,
AugmentedDataset with DataLoader workers, and the smaller cases of the issue's item 8.

The per-estimator checks (atomic fit, non-finite loss, huge requests, checksum)
live in ``tests/test_conformance.py``; this file holds the rest.
"""

from __future__ import annotations

import sys
import time
from numbers import Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.exceptions import NotFittedError
from torch.utils.data import DataLoader, get_worker_info

import metaaug
from metaaug.base import MetaaugEstimator, TrainingBudget, TrainingDivergedError, payload_checksum
from metaaug.constraints import Interval
from metaaug.data import AugmentedDataset, LabeledTaskSampler, Task, TaskDataset, load_digits, load_omniglot
from metaaug.fewshot import MAMLClassifier, ProtoNetClassifier, ScratchClassifier
from metaaug.samplers._common import fitted

TINY_AE = {"epochs": 1, "hidden": 4, "batch_size": 32, "verbose": False, "device": "cpu"}


@pytest.fixture(scope="module")
def digits8():
    X, y = load_digits()
    keep = torch.nonzero(y < 5).flatten()[:150]
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def protonet(digits8):
    X, y = digits8
    clf = ProtoNetClassifier(n_ways=3, k_query=2, n_iterations=2, hidden=8, verbose=False, device="cpu", random_state=0)
    return clf.fit(LabeledTaskSampler(X, y))


def write(payload: dict, path: Path) -> Path:
    torch.save(payload, path)
    return path


# ------------------------------------------------------------------ model files
def test_a_crafted_file_naming_the_cli_module_is_refused_without_importing_it(tmp_path):
    sys.modules.pop("metaaug.__main__", None)
    path = write({"class": "metaaug.__main__:X", "params": {}, "fitted": {}}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"cannot load 'metaaug.__main__:X': no such metaaug estimator class"):
        metaaug.load(path)
    assert "metaaug.__main__" not in sys.modules
    path = write({"class": "os:system", "params": {}, "fitted": {"a_": 1}}, tmp_path / "os.pt")
    with pytest.raises(ValueError, match="no such metaaug estimator class"):
        metaaug.load(path)


def _payload(est: MetaaugEstimator) -> dict:
    return est._to_payload()  # no checksum: like a file written before checksums existed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("params"), r"lacks the key\(s\) \['params'\]"),
        (lambda p: p.update(params=[1, 2]), "'params' must be a dictionary"),
        (lambda p: p.update(fitted="weights"), "'fitted' must be a dictionary"),
        (lambda p: p.update(format=99), "unknown model file format 99"),
        (lambda p: p.update({"class": 7}), "names its class as 7"),
        (lambda p: p["params"].update(colour="red"), r"has no parameter\(s\) \['colour'\]"),
        (lambda p: p["params"].update(lr="fast"), "lr must be a finite number > 0, got 'fast'"),
        (lambda p: p["fitted"].update(sneaky=1), "'sneaky' is not a fitted attribute"),
        (lambda p: p["fitted"].update(model_={"__module__": {}}), "do not fit ProtoNetClassifier.model_"),
        (lambda p: p["fitted"].update(model_="weights"), "holds no weights .*model_"),
        (lambda p: p["fitted"].update(extra_={"__module__": {}}), "has no network 'extra_'"),
        (lambda p: p["fitted"].update(fit_time_={"__ndarray__": "oops"}), "AttributeError"),
        (lambda p: p["fitted"].clear(), "no fitted state"),
    ],
)
def test_every_malformed_file_gives_one_value_error_naming_the_problem(protonet, tmp_path, change, message):
    payload = _payload(protonet)
    change(payload)
    with pytest.raises(ValueError, match=message):
        metaaug.load(write(payload, tmp_path / "bad.pt"))


def test_wrong_tensor_shapes_and_non_finite_weights_are_refused(protonet, tmp_path):
    payload = _payload(protonet)
    state = payload["fitted"]["model_"]["__module__"]
    name = next(k for k, v in state.items() if v.ndim == 4)
    state[name] = torch.zeros(1, 2, 3, 4)
    with pytest.raises(ValueError, match=rf"do not fit ProtoNetClassifier.model_.*{name}.*shape"):
        metaaug.load(write(payload, tmp_path / "shape.pt"))
    payload = _payload(protonet)
    payload["fitted"]["model_"]["__module__"][name] = torch.full_like(protonet.model_.state_dict()[name], np.nan)
    with pytest.raises(ValueError, match="NaN or infinite"):
        metaaug.load(write(payload, tmp_path / "nan.pt"))


def test_files_without_a_checksum_still_load_and_saved_files_carry_one(protonet, tmp_path):
    loaded = metaaug.load(write(_payload(protonet), tmp_path / "old.pt"))
    for key, value in protonet.model_.state_dict().items():
        assert torch.equal(loaded.model_.state_dict()[key], value)
    payload = torch.load(protonet.save(tmp_path / "new.pt"), weights_only=True)
    assert payload["checksum"].startswith("sha256:") and payload["checksum"] == payload_checksum(payload)
    payload["checksum"] = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match="checksum mismatch"):
        metaaug.load(write(payload, tmp_path / "forged.pt"))


def test_load_refuses_other_classes_and_garbage(protonet, tmp_path):
    path = protonet.save(tmp_path / "p.pt")
    with pytest.raises(ValueError, match="holds a ProtoNetClassifier, not a AE"):
        metaaug.AE.load(path)
    (tmp_path / "junk.pt").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a metaaug model file"):
        metaaug.load(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="not a metaaug model file"):
        metaaug.load(write([1, 2, 3], tmp_path / "list.pt"))


# --------------------------------------------------------- atomic and healthy fits
class _Toy(MetaaugEstimator):
    """A one-layer estimator whose training can be told to diverge or to fail."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "scale": [Interval(Real, None, None)],
        "fail": ["boolean"],
        "warm_start": ["boolean"],
    }

    def __init__(self, scale: float = 1.0, fail: bool = False, warm_start: bool = False) -> None:
        self.scale = scale
        self.fail = fail
        self.warm_start = warm_start

    def _build_modules(self) -> None:
        self.layer_ = torch.nn.Linear(2, 2)

    def fit(self, X: Any = None, y: Any = None) -> _Toy:
        self._validate_params()
        if not (self.warm_start and hasattr(self, "layer_")):
            self._init_modules()
        with torch.no_grad():
            self.layer_.weight.mul_(self.scale)
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.fail:
            raise RuntimeError("failed half-way")
        return self


def test_weights_that_overflow_stop_fit_and_leave_it_unfitted():
    est = _Toy(scale=1e30, warm_start=True).fit()  # finite
    before = est.layer_.weight.clone()
    with pytest.raises(TrainingDivergedError, match=r"parameter 'weight' of layer_ is NaN or infinite.*learning rate"):
        est.fit()  # weights near 1e60 overflow float32
    assert torch.equal(est.layer_.weight, before) and est.calls_ == 1
    fresh = _Toy(scale=1e39)
    with pytest.raises(TrainingDivergedError):
        fresh.fit()
    with pytest.raises(NotFittedError):
        fresh._check_fitted()


def test_a_failed_warm_start_fit_keeps_the_previous_weights_and_counters():
    est = _Toy(scale=2.0, warm_start=True).fit()
    weight = est.layer_.weight.clone()
    est.set_params(fail=True)
    with pytest.raises(RuntimeError, match="half-way"):
        est.fit()
    assert torch.equal(est.layer_.weight, weight) and est.calls_ == 1


def test_protonet_failures_from_the_issue(digits8, tmp_path):
    X, y = digits8
    sampler = LabeledTaskSampler(X, y)
    for params in ({"n_iterations": 0}, {"max_time": -1}, {"lr": float("inf")}, {"n_ways": 1}):
        for cls in (ProtoNetClassifier, MAMLClassifier):
            est = cls(verbose=False, device="cpu", **params)
            with pytest.raises(ValueError, match=next(iter(params))):
                est.fit(sampler)
            with pytest.raises(NotFittedError):
                est.save(tmp_path / "m.pt")
    est = ProtoNetClassifier(n_ways=3, k_query=2, n_iterations=3, lr=1e30, verbose=False, device="cpu", random_state=0)
    with pytest.raises(TrainingDivergedError, match="training step"):
        est.fit(sampler)
    with pytest.raises(NotFittedError):
        est.predict(X[:3], torch.arange(3), X[:2])


def test_an_autoencoder_that_diverges_says_so(digits8):
    est = metaaug.AE(lr=1e30, random_state=0, **TINY_AE)
    with pytest.raises(TrainingDivergedError, match=r"AE: the loss became .* at training step \d+"):
        est.fit(digits8[0])
    assert not est._fitted_names()


# ----------------------------------------------------------------- nested estimators
def test_nested_estimators_inherit_the_outer_random_state(digits8):
    X, _ = digits8
    runs = [metaaug.CACTUs(embedding=metaaug.AE(**TINY_AE), n_clusters=5, n_partitions=2, random_state=0) for _ in "ab"]
    a, b = (r.fit(X).sample_tasks(2, 3, 1, 1, random_state=0) for r in runs)
    assert all(torch.equal(s.support_x, t.support_x) for s, t in zip(a, b))
    other = metaaug.CACTUs(embedding=metaaug.AE(**TINY_AE), n_clusters=5, n_partitions=2, random_state=1).fit(X)
    assert not np.array_equal(other.partitions_, runs[0].partitions_)
    lasiums = [metaaug.LASIUM(backend=metaaug.AE(**TINY_AE), random_state=0, verbose=False, device="cpu") for _ in "ab"]
    tasks = [las.fit(X).sample_tasks(2, 3, 1, 1, random_state=0) for las in lasiums]
    assert all(torch.equal(s.query_x, t.query_x) for s, t in zip(*tasks))


def test_a_given_inner_random_state_is_kept_and_outside_a_fit_nothing_is_inherited(digits8):
    X, _ = digits8
    inner = metaaug.AE(random_state=5, **TINY_AE)
    clone_fit = fitted(inner, X)
    assert clone_fit is not inner and clone_fit.random_state == 5 and inner.random_state == 5
    assert fitted(metaaug.AE(**TINY_AE), X).random_state is None  # no outer fit: nothing to inherit


class _Outer(MetaaugEstimator):
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"max_time": [None, Interval(Real, 0, None, "neither")]}

    def __init__(self, max_time: float | None = None) -> None:
        self.max_time = max_time

    def fit(self, X: Any) -> _Outer:
        self.inner_ = fitted(metaaug.AE(epochs=100000, hidden=4, batch_size=32, verbose=False, device="cpu"), X)
        budget = TrainingBudget(10**9, None, "outer", verbose=False)
        for _ in budget:
            pass
        self.outer_steps_ = budget.completed
        return self


def test_the_outer_max_time_bounds_nested_training(digits8):
    start = time.perf_counter()
    outer = _Outer(max_time=0.5).fit(digits8[0][:64])
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"nested training ran {elapsed:.1f} s past max_time=0.5"
    assert 1 <= outer.inner_.n_iter_ < 100000 * 2 and outer.outer_steps_ >= 1
    assert TrainingBudget(3, None, "free", verbose=False).max_time is None  # no fit: no deadline


# ------------------------------------------------------------- AugmentedDataset
class _WorkerRefusingAugmenter:
    """Fills each generated image with a value of its random_state; generating inside a worker fails."""

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor:
        if get_worker_info() is not None:
            raise RuntimeError("a DataLoader worker generated a pool")
        return torch.full((n, *seeds.shape[1:]), (random_state % 997) / 997.0)


def test_refresh_reaches_persistent_workers_and_workers_never_generate(digits8):
    X, y = digits8
    ds = AugmentedDataset((X[:40], y[:40]), _WorkerRefusingAugmenter(), ratio=0.5, random_state=0)
    loader = DataLoader(ds, batch_size=len(ds), num_workers=2, persistent_workers=True)
    pools = []
    for _ in range(3):
        images = torch.cat([batch[0] for batch in loader])
        pools.append(images[torch.from_numpy(ds.is_generated())].clone())
        ds.refresh()
    assert not torch.equal(pools[0], pools[1]) and not torch.equal(pools[1], pools[2])
    assert torch.equal(pools[2], ds.generated[0].clone()) is False  # refreshed after the last epoch


def test_refresh_writes_the_pool_in_place(digits8):
    X, y = digits8
    ds = AugmentedDataset((X[:40], y[:40]), metaaug.PixelMixup(), ratio=0.5, random_state=0)
    images, labels = ds.generated
    first = images.clone()
    ds.refresh()
    assert ds.generated[0] is images and not torch.equal(images, first)
    assert torch.equal(ds.generated[1], labels)


# ------------------------------------------------------------------ item 8 cases
def test_protonet_evaluate_refuses_nan_images(protonet, digits8):
    X, y = digits8
    task = LabeledTaskSampler(X, y).sample_tasks(1, 3, 1, 2, random_state=0)[0]
    bad = Task(task.support_x * float("nan"), task.support_y, task.query_x, task.query_y)
    with pytest.raises(ValueError, match=r"tasks\[0\].support_x contains NaN"):
        protonet.evaluate([bad])


def test_scratch_classifier_checks_its_parameters_when_predicting(digits8):
    X, _ = digits8
    clf = ScratchClassifier(n_ways=3, steps=2, hidden=8, device="cpu", random_state=0).fit()
    clf.set_params(steps=-1)
    with pytest.raises(ValueError, match="steps must be an int >= 1, got -1"):
        clf.predict(X[:3], torch.arange(3), X[3:5])
    with pytest.raises(ValueError, match="steps must be"):
        ScratchClassifier(steps=-1).fit()


def test_unknown_devices_fail_at_fit(digits8):
    for bad in ("tpu", "abc"):
        with pytest.raises(ValueError, match="device must be"):
            metaaug.UMTRA(device=bad).fit(digits8[0])


def test_string_and_zero_hyperparameters_give_clear_errors(digits8):
    with pytest.raises(ValueError, match="AE: lr must be a finite number > 0, got 'abc'"):
        metaaug.AE(lr="abc").fit(digits8[0])
    with pytest.raises(ValueError, match="AE: hidden must be an int >= 1, got 0"):
        metaaug.AE(hidden=0).fit(digits8[0])


def test_lofgan_refuses_negative_labels(digits8):
    X, y = digits8
    labels = y.clone()
    labels[:10] = -1
    with pytest.raises(ValueError, match="labels >= 0"):
        metaaug.LoFGAN(epochs=0.02, verbose=False, device="cpu").fit(X, labels)


def test_task_dataset_checks_the_layout_up_front(digits8):
    X, y = digits8
    with pytest.raises(ValueError, match="n_ways=50 but the data has 5 classes"):
        TaskDataset(LabeledTaskSampler(X, y), 4, n_ways=50)


def test_pixel_mixup_is_a_scikit_learn_estimator():
    mixup = metaaug.PixelMixup(alpha=0.25)
    assert repr(mixup) == "PixelMixup(alpha=0.25)"
    assert mixup.set_params(alpha=0.5).alpha == 0.5
    with pytest.raises(ValueError, match="alpha"):
        metaaug.PixelMixup(alpha=2.0).fit()


def _fake_omniglot(root: Path, characters: int = 2, per_character: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for c in range(characters):
        folder = root / "images_background" / "Alpha" / f"character{c + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_character):
            pixels = (rng.random((12, 12)) > 0.5).astype(np.uint8) * 255
            Image.fromarray(pixels).save(folder / f"{c}_{i}.png")
    return root


def test_load_omniglot_item_8_cases(tmp_path):
    root = _fake_omniglot(tmp_path / "omni")
    X, y = load_omniglot(root, image_size=8)
    assert X.shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="alphabets is empty"):
        load_omniglot(root, alphabets=[])
    for bad in (0, 2.5, "28", True):
        with pytest.raises(ValueError, match="image_size must be an integer >= 4"):
            load_omniglot(root, image_size=bad)
    with pytest.raises(ValueError, match="GiB"):
        load_omniglot(root, image_size=10**7)
    # images added later are seen (the per-process cache follows the files)
    _fake_omniglot(root, characters=3, per_character=2)
    X, y = load_omniglot(root, image_size=8)
    assert X.shape[0] == 6 and int(y.max()) == 2
    corrupt = root / "images_background" / "Alpha" / "character01" / "broken.png"
    corrupt.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"cannot read the Omniglot image .*broken.png"):
        load_omniglot(root, image_size=8)
