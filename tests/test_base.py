"""The estimator base: device resolution, budgets, persistence format."""

import numpy as np
import pytest
import torch

from metaaug.base import MetaaugEstimator, TrainingBudget, load, resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_training_budget_counts_and_time_limit():
    budget = TrainingBudget(5, None, "test", verbose=False)
    assert list(budget) == [0, 1, 2, 3, 4] and budget.completed == 5
    budget = TrainingBudget(10**9, 0.05, "test", verbose=False)
    for _ in budget:
        pass
    assert 1 <= budget.completed < 10**9 and budget.elapsed >= 0.05
    with pytest.raises(ValueError, match=">= 1 step"):
        TrainingBudget(0, None, "x")
    with pytest.raises(ValueError, match="max_time"):
        TrainingBudget(3, -1.0, "x")


class _Toy(MetaaugEstimator):
    def __init__(self, width=3, inner=None, random_state=None, device="cpu"):
        self.width = width
        self.inner = inner
        self.random_state = random_state
        self.device = device

    def fit(self, X=None):
        self.shape_ = (1, 2, 2)
        self.table_ = np.arange(4.0)
        self.meta_ = {"name": "toy", "sizes": (1, 2)}
        self._build_modules()
        return self

    def _build_modules(self):
        self.net_ = torch.nn.Linear(self.width, 2)


def test_save_load_round_trip_with_nested_estimator(tmp_path):
    inner = _Toy(width=2).fit()
    outer = _Toy(width=4, inner=inner).fit()
    path = outer.save(tmp_path / "toy.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["class"].endswith(":_Toy")
    loaded = load(path)
    assert isinstance(loaded, _Toy) and isinstance(loaded.inner, _Toy)
    assert torch.equal(loaded.net_.weight, outer.net_.weight)
    assert torch.equal(loaded.inner.net_.weight, inner.net_.weight)
    assert np.array_equal(loaded.table_, outer.table_)
    assert loaded.meta_ == {"name": "toy", "sizes": (1, 2)}


def test_save_before_fit_and_load_errors(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _Toy().save(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a metaaug model"):
        load(tmp_path / "junk.pt")


def test_unsaveable_parameter_is_a_clear_error(tmp_path):
    toy = _Toy(inner=lambda x: x).fit()
    with pytest.raises(TypeError, match="cannot save 'inner'"):
        toy.save(tmp_path / "x.pt")
