"""The main job runs end to end (tiny budgets) and prints every row."""
import pytest

from metaaug.demo import run_demo



def test_demo_on_digits_prints_every_row():
    lines = []
    table = run_demo(n_test_tasks=10, n_iterations=3, epochs=1, verbose=False, print_fn=lines.append)
    assert "pixel nearest neighbour" in table
    assert "supervised ProtoNets" in table
    assert "training from scratch" in table
    assert "±" in table and "digits" in table
    assert lines and lines[-1] == table
