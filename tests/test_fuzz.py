"""Fuzz tests (hypothesis): bad input to any public entry point gives a ValueError, never another exception.

Each test draws arbitrary values (None, bools, huge or negative numbers, NaN
and infinities, strings, lists, odd arrays) for one entry point's arguments
and accepts only two outcomes: a valid result, or a ``ValueError``. Examples
are few and the estimators tiny, so the whole file runs in a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import metaaug
from metaaug.base import _REGISTRY
from metaaug.constraints import satisfies
from metaaug.data import AugmentedDataset, LabeledTaskSampler, TaskDataset, as_images, load_digits, load_omniglot
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3),
    st.just(object()),
    st.just(np.float32("nan")),
    st.just(np.int64(-2)),
)
small_or_junk = st.one_of(st.integers(-2, 6), junk)

ESTIMATORS = {
    "LASIUM": metaaug.LASIUM,
    "UMTRA": metaaug.UMTRA,
    "CACTUs": metaaug.CACTUs,
    "AE": metaaug.AE,
    "IntAE": metaaug.IntAE,
    "AugIntAE": metaaug.AugIntAE,
    "LoFGAN": metaaug.LoFGAN,
    "MetaFAVAE": metaaug.MetaFAVAE,
    "PixelMixup": metaaug.PixelMixup,
    "ProtoNetClassifier": ProtoNetClassifier,
    "MAMLClassifier": MAMLClassifier,
    "ScratchClassifier": ScratchClassifier,
    "PixelNearestNeighbor": PixelNearestNeighbor,
}


@pytest.fixture(scope="module")
def data():
    X, y = load_digits()
    keep = torch.nonzero(y < 5).flatten()[:100]
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    tiny = {"verbose": False, "device": "cpu", "random_state": 0}
    return {
        "AE": metaaug.AE(epochs=1, hidden=4, **tiny).fit(X),
        "PixelMixup": metaaug.PixelMixup(),
        "UMTRA": metaaug.UMTRA(device="cpu").fit(X),
        "labeled": LabeledTaskSampler(X, y),
        "ProtoNet": ProtoNetClassifier(n_ways=3, k_query=2, n_iterations=1, hidden=4, **tiny).fit(
            LabeledTaskSampler(X, y)
        ),
    }


def _outcome(call: Any) -> Any:
    """The call's result, or None after a ValueError; any other exception fails the test."""
    try:
        return call()
    except ValueError:
        return None


@FUZZ
@given(name=st.sampled_from(sorted(ESTIMATORS)), data_=st.data(), value=junk)
def test_fit_refuses_every_invalid_parameter_value(data, name, data_, value):
    cls = ESTIMATORS[name]
    constraints = getattr(cls, "_parameter_constraints", {})
    assume(constraints)
    param = data_.draw(st.sampled_from(sorted(constraints)))
    assume(not satisfies(value, constraints[param]))
    est = cls(**{param: value})
    X, y = data
    with pytest.raises(ValueError, match=param):
        if name in ("ProtoNetClassifier", "MAMLClassifier"):
            est.fit(LabeledTaskSampler(X, y))
        elif name in ("LoFGAN", "MetaFAVAE"):
            est.fit(X, y)
        else:
            est.fit(X)


@FUZZ
@given(which=st.sampled_from(["AE", "PixelMixup"]), n=junk)
def test_generate_with_any_n(fitted, data, which, n):
    is_count = isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
    assume(not is_count or n <= 64 or n > 10**13)  # skip sizes that are valid but slow
    valid = is_count and n <= 64  # beyond 10**13 images the request exceeds any memory
    result = _outcome(lambda: fitted[which].generate(data[0][:3], n, random_state=0))
    assert (result is not None) == valid
    if result is not None:
        assert result.shape == (int(n), 1, 8, 8) and torch.isfinite(result).all()


@FUZZ
@given(
    which=st.sampled_from(["UMTRA", "labeled"]),
    n_tasks=small_or_junk,
    n_ways=small_or_junk,
    k_shot=small_or_junk,
    k_query=small_or_junk,
)
def test_sample_tasks_with_any_layout(fitted, which, n_tasks, n_ways, k_shot, k_query):
    tasks = _outcome(lambda: fitted[which].sample_tasks(n_tasks, n_ways, k_shot, k_query, random_state=0))
    if tasks is not None:
        assert len(tasks) == n_tasks and all(len(t.support_y) == n_ways * k_shot for t in tasks)


images = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
        elements=None,
    ),
    junk,
)


@FUZZ
@given(value=images)
def test_as_images_accepts_valid_images_only(value):
    out = _outcome(lambda: as_images(value))
    if out is not None:
        assert out.ndim == 4 and out.dtype == torch.float32 and len(out) > 0
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@FUZZ
@given(support=images, labels=st.one_of(junk, hnp.arrays(np.int64, st.integers(0, 4))), query=images)
def test_predict_and_evaluate_with_any_input(fitted, support, labels, query):
    clf = fitted["ProtoNet"]
    out = _outcome(lambda: clf.predict(support, labels, query))
    if out is not None:
        assert out.dtype == torch.int64
    _outcome(lambda: clf.evaluate(support))


@FUZZ
@given(
    payload=st.one_of(
        junk,
        st.dictionaries(
            st.sampled_from(["class", "params", "fitted", "format", "checksum", "extra"]),
            st.one_of(junk, st.sampled_from(sorted(_REGISTRY)), st.dictionaries(st.text(max_size=6), junk, max_size=3)),
            max_size=6,
        ),
    )
)
def test_load_of_any_payload_gives_a_value_error(tmp_path_factory, payload):
    path = Path(tmp_path_factory.mktemp("fuzz")) / "m.pt"
    try:
        torch.save(payload, path)
    except Exception:
        assume(False)
    with pytest.raises(ValueError):
        metaaug.load(path)


@FUZZ
@given(blob=st.binary(max_size=64))
def test_load_of_any_bytes_gives_a_value_error(tmp_path_factory, blob):
    path = Path(tmp_path_factory.mktemp("fuzz")) / "m.pt"
    path.write_bytes(blob)
    with pytest.raises(ValueError):
        metaaug.load(path)


@FUZZ
@given(alphabets=st.one_of(junk, st.lists(st.one_of(st.text(max_size=4), junk), max_size=2)), size=small_or_junk)
def test_load_omniglot_with_any_arguments(tmp_path_factory, alphabets, size):
    root = tmp_path_factory.getbasetemp() / "no-omniglot-here"
    root.mkdir(exist_ok=True)
    with pytest.raises(ValueError):
        load_omniglot(root, alphabets=alphabets, image_size=size)


@FUZZ
@given(n_tasks=small_or_junk, n_ways=small_or_junk, ratio=junk, max_seeds=junk)
def test_dataset_adapters_with_any_arguments(fitted, data, n_tasks, n_ways, ratio, max_seeds):
    X, y = data
    dataset = _outcome(lambda: TaskDataset(fitted["labeled"], n_tasks, n_ways=n_ways, k_shot=1, k_query=1))
    if dataset is not None:
        assert len(dataset) == n_tasks
    augmented = _outcome(
        lambda: AugmentedDataset((X[:20], y[:20]), metaaug.PixelMixup(), ratio=ratio, max_seeds=max_seeds)
    )
    if augmented is not None:
        assert 0 <= float(ratio) < 1
