"""Episodes: layout invariants, errors, determinism and speed-critical vectorisation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from metaaug.data import LabeledTaskSampler, Task, TaskDataset, TransformedTaskSampler, collate_tasks


@pytest.fixture(scope="module")
def indexed_sampler():
    """30 classes with 6..12 images each; every pixel encodes (class, index) so identity is checkable."""
    counts = [6 + (c % 7) for c in range(30)]
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    ids = torch.arange(len(y), dtype=torch.float32) / len(y)
    X = ids.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    return LabeledTaskSampler(X, y), X, y


@settings(max_examples=40, deadline=None)
@given(n_ways=st.integers(1, 8), k_shot=st.integers(1, 3), k_query=st.integers(0, 3), seed=st.integers(0, 10**6))
def test_task_invariants(indexed_sampler, n_ways, k_shot, k_query, seed):
    sampler, X, y = indexed_sampler
    tasks = sampler.sample_tasks(3, n_ways=n_ways, k_shot=k_shot, k_query=k_query, random_state=seed)
    assert len(tasks) == 3
    lookup = {float(v): i for i, v in enumerate(X[:, 0, 0, 0])}
    for task in tasks:
        assert task.support_x.shape == (n_ways * k_shot, 1, 4, 4)
        assert task.query_x.shape == (n_ways * k_query, 1, 4, 4)
        assert task.support_y.tolist() == np.repeat(np.arange(n_ways), k_shot).tolist()
        assert task.query_y.tolist() == np.repeat(np.arange(n_ways), k_query).tolist()
        s_idx = [lookup[float(v)] for v in task.support_x[:, 0, 0, 0]]
        q_idx = [lookup[float(v)] for v in task.query_x[:, 0, 0, 0]]
        assert not set(s_idx) & set(q_idx), "an image is in both support and query"
        assert len(set(s_idx + q_idx)) == len(s_idx) + len(q_idx)
        classes = [int(y[i]) for i in s_idx[::k_shot]]
        assert len(set(classes)) == n_ways, "classes of a task must be distinct"
        # every image carries its episode label's class
        for label, i in zip(task.support_y.tolist(), s_idx):
            assert int(y[i]) == classes[label]
        for label, i in zip(task.query_y.tolist(), q_idx):
            assert int(y[i]) == classes[label]


def test_same_random_state_same_tasks(indexed_sampler):
    sampler = indexed_sampler[0]
    a = sampler.sample_tasks(5, 5, 1, 3, random_state=7)
    b = sampler.sample_tasks(5, 5, 1, 3, random_state=7)
    c = sampler.sample_tasks(5, 5, 1, 3, random_state=8)
    assert all(torch.equal(s.support_x, t.support_x) and torch.equal(s.query_x, t.query_x) for s, t in zip(a, b))
    assert not all(torch.equal(s.support_x, t.support_x) for s, t in zip(a, c))


def test_too_many_ways_or_shots_name_the_problem(indexed_sampler):
    sampler = indexed_sampler[0]
    with pytest.raises(ValueError, match="n_ways=31 but the data has 30 classes"):
        sampler.sample_tasks(1, n_ways=31)
    with pytest.raises(ValueError, match=r"k_shot \+ k_query = 10 .*class 0 has 6"):
        sampler.sample_tasks(1, n_ways=2, k_shot=5, k_query=5)
    with pytest.raises(ValueError, match="n_tasks must be >= 1"):
        sampler.sample_tasks(0)


def test_task_dataset_works_with_dataloader(indexed_sampler):
    sampler = indexed_sampler[0]
    ds = TaskDataset(sampler, n_tasks=8, n_ways=3, k_shot=1, k_query=2, random_state=0)
    single = list(DataLoader(ds, batch_size=None, shuffle=True))
    assert len(single) == 8 and isinstance(single[0], Task)
    batches = list(DataLoader(ds, batch_size=4, collate_fn=collate_tasks))
    assert batches[0].support_x.shape == (4, 3, 1, 4, 4)
    assert batches[0].query_y.shape == (4, 6)
    again = TaskDataset(sampler, n_tasks=8, n_ways=3, k_shot=1, k_query=2, random_state=0)
    assert torch.equal(again[3].query_x, ds[3].query_x)


def test_omniglot_tasks_from_real_data(dev_split):
    (Xtr, ytr), _ = dev_split
    tasks = LabeledTaskSampler(Xtr, ytr).sample_tasks(10, 5, 1, 15, random_state=0)
    assert tasks[0].support_x.shape == (5, 1, 28, 28) and tasks[0].query_x.shape == (75, 1, 28, 28)


def test_transformed_task_sampler_changes_images_not_layout(indexed_sampler):
    sampler, X, y = indexed_sampler
    plain = sampler.sample_tasks(4, n_ways=3, k_shot=2, k_query=2, random_state=1)
    doubled = TransformedTaskSampler(sampler, lambda images: 2 * images)  # exact in floating point
    tasks = doubled.sample_tasks(4, n_ways=3, k_shot=2, k_query=2, random_state=1)
    again = doubled.sample_tasks(4, n_ways=3, k_shot=2, k_query=2, random_state=1)
    for task, twin in zip(tasks, again):
        assert torch.equal(task.query_x, twin.query_x) and torch.equal(task.support_x, twin.support_x)
    # the wrapped sampler receives a seed derived from random_state; the transform applies to every image
    for task in tasks:
        assert torch.isin((task.support_x / 2).flatten(), X.flatten()).all()
        assert torch.isin((task.query_x / 2).flatten(), X.flatten()).all()
        assert task.support_x.shape == (6, 1, 4, 4) and task.query_x.shape == (6, 1, 4, 4)
        assert torch.equal(task.query_y, plain[0].query_y)
    queries_only = TransformedTaskSampler(sampler, lambda images: 2 * images + 1, queries_only=True)
    task = queries_only.sample_tasks(1, n_ways=3, k_shot=2, k_query=2, random_state=0)[0]
    assert torch.isin(task.support_x.flatten(), X.flatten()).all()
    assert not torch.isin(task.query_x.flatten(), X.flatten()).all()


def test_transformed_task_sampler_random_transform_is_seeded(indexed_sampler):
    sampler, _, _ = indexed_sampler
    noisy = TransformedTaskSampler(sampler, lambda images: images + torch.rand(images.shape))
    a = noisy.sample_tasks(2, n_ways=2, k_shot=1, k_query=1, random_state=7)
    b = noisy.sample_tasks(2, n_ways=2, k_shot=1, k_query=1, random_state=7)
    c = noisy.sample_tasks(2, n_ways=2, k_shot=1, k_query=1, random_state=8)
    assert torch.equal(a[0].support_x, b[0].support_x) and not torch.equal(a[0].support_x, c[0].support_x)


def test_transformed_task_sampler_bad_input(indexed_sampler):
    sampler, _, _ = indexed_sampler
    with pytest.raises(TypeError, match="sample_tasks"):
        TransformedTaskSampler(object(), lambda x: x)
    with pytest.raises(TypeError, match="callable"):
        TransformedTaskSampler(sampler, "blur")
    with pytest.raises(ValueError, match="changed the image shape"):
        TransformedTaskSampler(sampler, lambda x: x[:, :, :2]).sample_tasks(1, n_ways=2, k_shot=1, k_query=1)
