"""One conformance suite every public metaaug estimator must pass.

Parametrized over the registry below, which holds tiny settings per estimator
on sklearn digits. ``test_registry_covers_every_public_estimator`` fails when a
public estimator (a name of ``metaaug._PUBLIC`` or a ``MetaaugEstimator``
exported by ``metaaug.fewshot``) has no entry, so a new estimator cannot
escape the suite.

Checks, for every estimator: ``get_params`` / ``set_params`` /
``sklearn.base.clone``; the constructor only stores its parameters;
``NotFittedError`` before ``fit``; fitted attributes end in ``_``; the same
``random_state`` gives identical fitted weights and outputs; ``save`` /
``load`` round-trip with ``torch.load(weights_only=True)`` and identical
outputs; bad images (wrong rank, NaN, out of range, empty) raise ``ValueError``
naming the problem; ``device="cpu"`` works and ``device="auto"`` uses CUDA when
present.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import metaaug
from metaaug.base import MetaaugEstimator
from metaaug.data import LabeledTaskSampler, load_digits

SAMPLER, GENERATOR, CLASSIFIER = "sampler", "generator", "classifier"


@dataclass(frozen=True)
class Case:
    """How to run one estimator in the suite.

    kind : what its output method is (``sample_tasks``, ``generate`` or ``predict``).
    params : tiny settings (a few steps) used for every fit here.
    image_size : digits are resized to this side (8 keeps them native).
    labels : fit with labels (``fit(X, y)``) instead of unlabeled ``fit(X)``.
    needs_fit : False for augmenters that work unfitted (no ``NotFittedError``, no ``save``).
    images_only : a classifier meta-trained on unlabeled images (``fit(X)``), not on a task sampler.
    takes_random_state : the constructor has ``random_state`` and ``device``.
    generate_seeds : how many seed images ``generate`` gets.
    paper : implements a paper, so its docstring lists "Differences from the paper".
    """

    kind: str
    params: dict = field(default_factory=dict)
    image_size: int = 8
    labels: bool = False
    needs_fit: bool = True
    images_only: bool = False
    takes_random_state: bool = True
    generate_seeds: int = 3
    paper: bool = True


QUIET = {"verbose": False}

TINY_AE = {"epochs": 1, "hidden": 4, "batch_size": 32, **QUIET}

REGISTRY: dict[str, Case] = {
    # task samplers
    "LASIUM": Case(SAMPLER, {"epochs": 1, "hidden": 4, "latent_dim": 4, **QUIET}),
    "UMTRA": Case(SAMPLER),
    "CACTUs": Case(SAMPLER, {"n_clusters": 10, "n_partitions": 2, "n_components": 8}),
    # generators / augmenters
    "AE": Case(GENERATOR, TINY_AE),
    "IntAE": Case(GENERATOR, TINY_AE),
    "AugIntAE": Case(GENERATOR, TINY_AE),
    "LoFGAN": Case(
        GENERATOR,
        {
            "epochs": 0.02,
            "meta_batch_size": 2,
            "gen_channels": (4, 4, 4),
            "disc_channels": 4,
            "disc_max_channels": 8,
            **QUIET,
        },
        labels=True,
    ),
    "MetaFAVAE": Case(GENERATOR, {"n_iterations": 2, "max_time": None, "inner_iterations": 1, **QUIET}, labels=True),
    "PixelMixup": Case(GENERATOR, {}, needs_fit=False, takes_random_state=False, paper=False),
    # few-shot classifiers
    "ProtoNetClassifier": Case(CLASSIFIER, {"n_ways": 3, "k_query": 2, "n_iterations": 3, "hidden": 8, **QUIET}),
    "MAMLClassifier": Case(
        CLASSIFIER,
        {
            "n_ways": 3,
            "k_query": 2,
            "n_iterations": 2,
            "hidden": 8,
            "adaptation_steps": 1,
            "eval_adaptation_steps": 2,
            **QUIET,
        },
    ),
    "PsCo": Case(
        CLASSIFIER,
        {"epochs": 1, "hidden": 4, "projection_dim": 8, "mlp_hidden": 16, "queue_size": 64, "batch_size": 64, **QUIET},
        images_only=True,
    ),
    "PixelNearestNeighbor": Case(CLASSIFIER, {}, takes_random_state=False, paper=False),
    "ScratchClassifier": Case(CLASSIFIER, {"n_ways": 3, "steps": 2, "hidden": 8}, paper=False),
}


def _exported_fewshot_estimators() -> set[str]:
    fewshot = importlib.import_module("metaaug.fewshot")
    return {
        name
        for name in getattr(fewshot, "__all__", ())
        if inspect.isclass(getattr(fewshot, name, None)) and issubclass(getattr(fewshot, name), MetaaugEstimator)
    }


def public_estimator_names() -> set[str]:
    """Every public estimator: ``metaaug._PUBLIC`` (less ``load``) and metaaug.fewshot's estimators."""
    return (set(metaaug._PUBLIC) - {"load"}) | _exported_fewshot_estimators()


def estimator_class(name: str) -> type:
    if name in metaaug._PUBLIC:
        return getattr(metaaug, name)
    return getattr(importlib.import_module("metaaug.fewshot"), name)


ESTIMATORS = [pytest.param(name, id=name) for name in sorted(REGISTRY)]


def test_registry_covers_every_public_estimator():
    missing = sorted(public_estimator_names() - set(REGISTRY))
    assert not missing, (
        f"public estimators missing from the conformance registry in tests/test_conformance.py: {missing}; "
        "add a Case with tiny settings for each"
    )
    stale = sorted(set(REGISTRY) - public_estimator_names())
    assert not stale, f"registry entries that are not public estimators: {stale}"


@pytest.mark.parametrize("name", sorted(metaaug._PUBLIC))
def test_every_public_name_imports(name):
    # a public estimator whose module is missing or broken fails here (never an expected failure)
    assert getattr(metaaug, name) is not None


# ---------------------------------------------------------- conventions
# names replaced by one convention each (CONTRIBUTING.md); none may come back
RETIRED_FITTED_NAMES = {"loss_history_", "history_", "n_steps_", "n_iterations_", "n_iterations_done_", "epochs_done_"}
RETIRED_PARAMETER_NAMES = {"width", "hidden_channels"}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_parameter_has_a_declared_constraint(name):
    cls = estimator_class(name)
    if not issubclass(cls, MetaaugEstimator):
        pytest.skip(f"{name} is not a MetaaugEstimator")
    params = set(make(name).get_params(deep=False))
    missing = sorted(params - set(cls._parameter_constraints))
    assert not missing, f"{name}: parameters without an entry in _parameter_constraints: {missing}"
    stale = sorted(set(cls._parameter_constraints) - params)
    assert not stale, f"{name}: _parameter_constraints names unknown parameters {stale}"


def _bad_value(specs) -> Any:
    """A value that breaks every constraint of ``specs`` (a string for numbers, NaN for reals, ...)."""
    from metaaug.constraints import satisfies

    for candidate in (object(), "not-a-valid-value", float("nan"), -1, 10**9, 0.5):
        if not satisfies(candidate, specs):
            return candidate
    return None


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fit_refuses_each_invalid_parameter_with_one_clear_error(name, digit_data):
    cls = estimator_class(name)
    if not issubclass(cls, MetaaugEstimator) or not REGISTRY[name].needs_fit:
        pytest.skip(f"{name} is not fitted")
    for param, specs in cls._parameter_constraints.items():
        bad = _bad_value(specs)
        if bad is None:
            continue
        est = make(name, **{param: bad})
        with pytest.raises(ValueError, match=param):
            fit(name, est, digit_data)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_one_name_per_concept(name, digit_data):
    params = make(name).get_params(deep=False)
    assert not RETIRED_PARAMETER_NAMES & set(params), "the network width parameter is called `hidden`"
    if "verbose" in params:
        default = inspect.signature(estimator_class(name).__init__).parameters["verbose"].default
        assert default is True, "verbose defaults to True everywhere"
    est = fitted_estimator(name, digit_data)
    retired = RETIRED_FITTED_NAMES & set(vars(est))
    assert not retired, f"use loss_curve_ / loss_terms_ / n_iter_ instead of {sorted(retired)}"
    if hasattr(est, "loss_curve_"):
        curve = est.loss_curve_
        assert isinstance(curve, np.ndarray) and curve.ndim == 1, "loss_curve_ is a 1-D array"
        for term in getattr(est, "loss_terms_", {}).values():
            assert np.asarray(term).shape == curve.shape, "each loss_terms_ entry is as long as loss_curve_"
    assert not hasattr(est, "_more_tags"), "scikit-learn >= 1.6 reads __sklearn_tags__"


# ----------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def digit_data():
    X, y = load_digits()
    return X, y


def resized(X: torch.Tensor, size: int) -> torch.Tensor:
    if X.shape[-1] == size:
        return X
    return F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def training_data(case: Case, digit_data) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 300 images of classes 0-4 (about 60 per class) at the case's image size."""
    X, y = digit_data
    keep = torch.nonzero(y < 5).flatten()[:300]
    return resized(X[keep], case.image_size), y[keep]


def novel_seeds(case: Case, digit_data) -> torch.Tensor:
    X, y = digit_data
    return resized(X[y == 7][: case.generate_seeds], case.image_size)


def probe_task(case: Case, digit_data):
    X, y = digit_data
    keep = y >= 5
    sampler = LabeledTaskSampler(resized(X[keep], case.image_size), y[keep])
    return sampler.sample_tasks(1, n_ways=3, k_shot=1, k_query=2, random_state=0)[0]


def make(name: str, **overrides: Any):
    case = REGISTRY[name]
    params = dict(case.params)
    if case.takes_random_state:
        params.setdefault("random_state", 0)
        params.setdefault("device", "cpu")
    params.update(overrides)
    return estimator_class(name)(**params)


def fit(name: str, est, digit_data):
    case = REGISTRY[name]
    X, y = training_data(case, digit_data)
    if case.kind == CLASSIFIER and not case.images_only:
        return est.fit(LabeledTaskSampler(X, y))
    return est.fit(X, y) if case.labels else est.fit(X)


def output(name: str, est, digit_data, random_state: int = 0) -> torch.Tensor:
    """The estimator's main output as one tensor."""
    case = REGISTRY[name]
    if case.kind == SAMPLER:
        tasks = est.sample_tasks(3, n_ways=3, k_shot=1, k_query=2, random_state=random_state)
        assert len(tasks) == 3
        return torch.stack([torch.cat([t.support_x, t.query_x]) for t in tasks])
    if case.kind == GENERATOR:
        seeds = novel_seeds(case, digit_data)
        images = est.generate(seeds, 4, random_state=random_state)
        assert tuple(images.shape) == (4, *seeds.shape[1:])
        assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
        return images
    task = probe_task(case, digit_data)
    labels = est.predict(task.support_x, task.support_y, task.query_x)
    assert labels.dtype == torch.int64 and labels.shape == task.query_y.shape
    return labels


def module_states(est) -> dict[str, dict[str, torch.Tensor]]:
    return {k: v.state_dict() for k, v in vars(est).items() if isinstance(v, torch.nn.Module)}


def assert_same_states(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys(), name
        for key in a[name]:
            assert torch.equal(a[name][key].cpu(), b[name][key].cpu()), f"{name}.{key} differs"


_FITTED: dict[str, Any] = {}


def fitted_estimator(name: str, digit_data):
    if name not in _FITTED:
        _FITTED[name] = fit(name, make(name), digit_data)
    return _FITTED[name]


def public_attributes(est) -> set[str]:
    return {k for k in vars(est) if not k.startswith("_")}


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", ESTIMATORS)
def test_params_set_params_and_clone(name):
    case = REGISTRY[name]
    est = make(name)
    params = est.get_params()
    signature = inspect.signature(type(est).__init__)
    init_names = {n for n, p in signature.parameters.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
    assert set(params) == init_names, "get_params must return exactly the constructor's parameters"
    if case.takes_random_state:
        assert {"random_state", "device"} <= set(params), "every estimator takes random_state and device"
        assert signature.parameters["device"].default == "auto"
        assert signature.parameters["random_state"].default is None
    for key, value in case.params.items():
        assert params[key] == value
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert twin.get_params() == params
    if params:
        key = "random_state" if "random_state" in params else sorted(params)[0]
        value = 7 if key == "random_state" else params[key]
        assert est.set_params(**{key: value}) is est
        assert est.get_params()[key] == value
    with pytest.raises(ValueError):
        est.set_params(no_such_parameter_xyz=1)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_docstring_documents_parameters_and_deviations(name):
    cls = estimator_class(name)
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")  # its own, not a base class's
    assert doc, f"{name} has no class docstring (a docstring must be a string literal, not an expression)"
    init_names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    if init_names:
        assert "Parameters\n----------" in doc, f"{name}'s docstring has no numpy 'Parameters' section"
        undocumented = [n for n in init_names if n not in doc]
        assert not undocumented, f"{name}'s docstring does not mention parameter(s) {undocumented}"
    if REGISTRY[name].paper:
        assert "Notes\n-----" in doc, f"{name}'s docstring has no numpy 'Notes' section"
        notes = doc.split("Notes\n-----", 1)[1]
        assert "Differences from the paper:" in notes, (
            f"{name}'s Notes section has no 'Differences from the paper:' list"
        )


@pytest.mark.parametrize("name", ESTIMATORS)
def test_constructor_only_stores_parameters(name):
    est = make(name)
    assert public_attributes(est) == set(est.get_params()), (
        "__init__ must store its parameters and nothing else (validation belongs in fit)"
    )
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_not_fitted_error_before_fit(name, digit_data):
    case = REGISTRY[name]
    if not case.needs_fit:
        pytest.skip(f"{name} needs no fitting")
    with pytest.raises(NotFittedError):
        output(name, make(name), digit_data)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_attributes_end_in_underscore(name, digit_data):
    case = REGISTRY[name]
    est = fitted_estimator(name, digit_data)
    new = public_attributes(est) - set(est.get_params())
    assert all(k.endswith("_") for k in new), f"fitted attributes without a trailing _: {sorted(new)}"
    if case.needs_fit:
        assert new, "fit must set at least one fitted attribute"
    assert est.get_params() == make(name).get_params(), "fit must not change the parameters"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_same_random_state_gives_identical_results(name, digit_data):
    case = REGISTRY[name]
    first = fitted_estimator(name, digit_data)
    second = fit(name, make(name), digit_data)
    assert_same_states(module_states(first), module_states(second))
    out = output(name, first, digit_data, random_state=3)
    assert torch.equal(out, output(name, second, digit_data, random_state=3))
    assert torch.equal(out, output(name, first, digit_data, random_state=3)), "same random_state, new output"
    if case.kind != CLASSIFIER:
        assert not torch.equal(out, output(name, first, digit_data, random_state=4)), (
            "a different random_state gave the same output: is random_state used?"
        )


@pytest.mark.parametrize("name", ESTIMATORS)
def test_save_load_round_trip(name, digit_data, tmp_path):
    case = REGISTRY[name]
    est = fitted_estimator(name, digit_data)
    if not case.needs_fit:
        assert not hasattr(est, "save") or isinstance(est, MetaaugEstimator)
        pytest.skip(f"{name} has no fitted state to save")
    path = est.save(tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)  # no pickled objects
    assert isinstance(payload, dict)
    loaded = metaaug.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert set(public_attributes(loaded)) == set(public_attributes(est))
    assert_same_states(module_states(est), module_states(loaded))
    assert torch.equal(output(name, est, digit_data, random_state=5), output(name, loaded, digit_data, random_state=5))
    assert type(est).load(path).get_params() == est.get_params()


BAD_IMAGES = {
    "wrong rank": (lambda shape: np.zeros(shape[-1] * shape[-2], dtype=np.float32), r"dim|shape|rank"),
    "NaN": (lambda shape: np.full((6, *shape), np.nan, dtype=np.float32), r"NaN|nan|finite"),
    "out of range": (lambda shape: np.full((6, *shape), 3.0, dtype=np.float32), r"\[0, 1\]|range|outside"),
    "empty": (lambda shape: np.zeros((0, *shape), dtype=np.float32), r"empty|at least|too small"),
}


@pytest.mark.parametrize("problem", sorted(BAD_IMAGES))
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_images_raise_value_error_naming_the_problem(name, problem, digit_data):
    case = REGISTRY[name]
    make_bad, pattern = BAD_IMAGES[problem]
    bad = make_bad((1, case.image_size, case.image_size))
    if case.needs_fit:
        est = make(name)
        y = np.zeros(len(bad) if bad.ndim > 1 else 1, dtype=np.int64)
        with pytest.raises(ValueError, match=pattern):
            if case.kind == CLASSIFIER or case.labels:
                est.fit(bad, y)
            else:
                est.fit(bad)
    if case.kind == GENERATOR:
        est = fitted_estimator(name, digit_data)
        with pytest.raises(ValueError, match=pattern):
            est.generate(bad, 2, random_state=0)
    elif case.kind == CLASSIFIER:
        est = fitted_estimator(name, digit_data)
        task = probe_task(case, digit_data)
        with pytest.raises(ValueError, match=pattern):
            est.predict(task.support_x, task.support_y, bad)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_cpu_device_keeps_everything_on_cpu(name, digit_data):
    case = REGISTRY[name]
    est = fitted_estimator(name, digit_data)  # fitted with device="cpu"
    for module in module_states(est).values():
        assert all(t.device.type == "cpu" for t in module.values())
    out = output(name, est, digit_data)
    assert out.device.type == "cpu"
    if case.takes_random_state:
        assert est.get_params()["device"] == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("name", ESTIMATORS)
def test_auto_device_uses_cuda_when_present(name, digit_data):
    case = REGISTRY[name]
    if not case.takes_random_state:
        pytest.skip(f"{name} has no device parameter")
    est = fit(name, make(name, device="auto"), digit_data)
    modules = [v for v in vars(est).values() if isinstance(v, torch.nn.Module)]
    for module in modules:
        assert all(p.device.type == "cuda" for p in module.parameters())
    output(name, est, digit_data)


# -------------------------------------------------------------- reliability (issue 21)
TRAINS = {
    "LASIUM",
    "AE",
    "IntAE",
    "AugIntAE",
    "LoFGAN",
    "MetaFAVAE",
    "ProtoNetClassifier",
    "MAMLClassifier",
    "PsCo",
}


def _unfitted_everywhere(name: str, est, digit_data, tmp_path) -> None:
    """Nothing half-built is usable or savable."""
    assert not est._fitted_names(), f"{name} kept {est._fitted_names()} after a failed fit"
    with pytest.raises(NotFittedError):
        output(name, est, digit_data)
    with pytest.raises(NotFittedError):
        est.save(tmp_path / "half.pt")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_fit_that_raises_leaves_the_estimator_unfitted(name, digit_data, tmp_path, monkeypatch):
    if not REGISTRY[name].needs_fit:
        pytest.skip(f"{name} needs no fitting")

    def fail(self):
        raise RuntimeError("late failure")

    # the last thing every fit does: everything is built by then
    monkeypatch.setattr(MetaaugEstimator, "_check_finite", fail)
    est = make(name)
    before = dict(vars(est))
    with pytest.raises(RuntimeError, match="late failure"):
        fit(name, est, digit_data)
    assert vars(est) == before
    _unfitted_everywhere(name, est, digit_data, tmp_path)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_refit_that_raises_keeps_the_previous_fitted_state(name, digit_data, monkeypatch):
    if not REGISTRY[name].needs_fit:
        pytest.skip(f"{name} needs no fitting")
    overrides = {"warm_start": True} if "warm_start" in make(name).get_params() else {}
    est = fit(name, make(name, **overrides), digit_data)
    states = {k: {p: t.clone() for p, t in s.items()} for k, s in module_states(est).items()}
    attributes = set(public_attributes(est))
    reference = output(name, est, digit_data, random_state=3)

    def fail(self):
        raise RuntimeError("late failure")

    monkeypatch.setattr(MetaaugEstimator, "_check_finite", fail)
    with pytest.raises(RuntimeError, match="late failure"):
        fit(name, est, digit_data)  # with warm_start this trains the same modules in place first
    monkeypatch.undo()
    assert set(public_attributes(est)) == attributes
    assert_same_states(states, module_states(est))
    assert torch.equal(output(name, est, digit_data, random_state=3), reference)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_non_finite_loss_stops_training_and_names_the_step(name, digit_data, tmp_path, monkeypatch):
    if name not in TRAINS:
        pytest.skip(f"{name} has no training loop")
    from metaaug.base import TrainingBudget, TrainingDivergedError

    calls = []
    original = TrainingBudget.track

    def diverged(self, loss, name="loss"):
        calls.append(loss)
        return original(self, float("nan"), name)

    monkeypatch.setattr(TrainingBudget, "track", diverged)
    est = make(name)
    with pytest.raises(TrainingDivergedError, match=r"training step 1\b.*learning rate"):
        fit(name, est, digit_data)
    assert len(calls) == 1
    monkeypatch.undo()
    _unfitted_everywhere(name, est, digit_data, tmp_path)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_training_loops_check_every_step(name, digit_data, monkeypatch):
    if name not in TRAINS:
        pytest.skip(f"{name} has no training loop")
    from metaaug.base import TrainingBudget

    steps: list[int] = []
    original = TrainingBudget.track

    def record(self, loss, name="loss"):
        steps.append(self.completed)
        return original(self, loss, name)

    monkeypatch.setattr(TrainingBudget, "track", record)
    fit(name, make(name), digit_data)
    assert steps, f"{name} never checks its loss"
    assert sorted(set(steps)) == list(range(max(steps) + 1)), "one check (or one per loss term) every step"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_hyperparameters_refuse_nan_inf_and_strings(name):
    from metaaug.constraints import satisfies

    cls = estimator_class(name)
    for param, specs in getattr(cls, "_parameter_constraints", {}).items():
        for bad in (float("nan"), float("inf"), -float("inf"), "abc"):
            if bad == "abc" and any(isinstance(s, str) and s == "callable" for s in specs):
                continue
            assert not satisfies(bad, specs) or param in {"embedding", "augmentation", "condition"}, (
                f"{name}.{param} accepts {bad!r}"
            )


@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_output_sizes_and_huge_requests(name, digit_data):
    case = REGISTRY[name]
    est = fitted_estimator(name, digit_data)
    if case.kind == GENERATOR:
        seeds = novel_seeds(case, digit_data)
        for bad in (0, -1, 2.5, "3", None, True):
            with pytest.raises(ValueError, match=r"\bn must be an integer >= 1"):
                est.generate(seeds, bad, random_state=0)
        with pytest.raises(ValueError, match="GiB"):
            est.generate(seeds, 10**12, random_state=0)
    elif case.kind == SAMPLER:
        for bad in (0, 2.5, "3", None, True):
            with pytest.raises(ValueError, match="n_tasks"):
                est.sample_tasks(bad, n_ways=3, k_shot=1, k_query=2, random_state=0)
        with pytest.raises(ValueError, match="GiB"):
            est.sample_tasks(10**12, n_ways=3, k_shot=1, k_query=2, random_state=0)
    else:
        pytest.skip("classifiers answer one given task")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_flipped_byte_in_a_saved_file_fails_the_checksum(name, digit_data, tmp_path):
    if not REGISTRY[name].needs_fit:
        pytest.skip(f"{name} has no fitted state to save")
    est = fitted_estimator(name, digit_data)
    path = est.save(tmp_path / "model.pt")
    tensors: list[torch.Tensor] = []

    def collect(value):
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)

    payload = torch.load(path, weights_only=True)
    collect(payload["fitted"])
    stored_as_is = [t for t in tensors if t.is_contiguous() and t.numel() > 0 and t.dtype != torch.bool]
    if stored_as_is:  # a real flipped bit inside the bytes of the largest tensor
        largest = max(stored_as_is, key=lambda t: t.numel() * t.element_size())
        raw = bytearray(path.read_bytes())
        where = raw.find(largest.numpy().tobytes())
        assert where >= 0, "tensor bytes are stored as they are"
        raw[where + largest.numel() * largest.element_size() // 2] ^= 0x01
        path.write_bytes(bytes(raw))
        with pytest.raises(ValueError, match="checksum mismatch"):
            metaaug.load(path)
    # a value changed in the payload without a new checksum
    payload["params"]["random_state"] = 1 if payload["params"].get("random_state") != 1 else 2
    torch.save(payload, path)
    with pytest.raises(ValueError, match="checksum mismatch"):
        metaaug.load(path)
