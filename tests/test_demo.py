"""The main job runs end to end (tiny budgets) and prints every row."""

import torch

from benchmarks._harness.dev_split import DEV_TEST_ALPHABETS, DEV_TRAIN_ALPHABETS
from metaaug import demo
from metaaug.data import LabeledTaskSampler
from metaaug.demo import run_demo


def test_demo_on_digits_prints_every_row():
    lines = []
    table = run_demo(n_test_tasks=10, n_iterations=3, epochs=1, verbose=False, print_fn=lines.append)
    assert "pixel nearest neighbour" in table
    assert "supervised ProtoNets" in table
    assert "training from scratch" in table
    assert "±" in table and "digits" in table
    assert lines and lines[-1] == table


def test_demo_split_is_the_benchmarks_split(omniglot_root, dev_split):
    """The demo's Omniglot table is comparable with docs/benchmarks.md: same alphabets, same images."""
    assert demo.OMNIGLOT_TRAIN_ALPHABETS == DEV_TRAIN_ALPHABETS
    assert demo.OMNIGLOT_TEST_ALPHABETS == DEV_TEST_ALPHABETS
    data = demo._omniglot(str(omniglot_root))
    (X_train, y_train), (X_test, y_test) = dev_split
    assert torch.equal(data.X_train, X_train) and torch.equal(data.y_train, y_train)
    ours = data.test.sample_tasks(2, random_state=0)
    theirs = LabeledTaskSampler(X_test, y_test).sample_tasks(2, random_state=0)
    assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(ours, theirs))
