"""The main job runs end to end (tiny budgets), prints every row and writes its two pictures."""

import torch
from PIL import Image

from benchmarks._harness.dev_split import DEV_TEST_ALPHABETS, DEV_TRAIN_ALPHABETS
from metaaug import demo
from metaaug.data import LabeledTaskSampler
from metaaug.demo import run_demo

ROWS = ("pixel nearest neighbour", "LASIUM", "UMTRA", "CACTUs", "labeled classes (reference)")


def test_demo_on_the_embedded_omniglot_subset(tmp_path, monkeypatch):
    """The default path (embedded Omniglot), on a slice of its training images to stay fast."""
    full = demo._embedded()
    small = demo.DemoData(full.name, full.X_train[:300], full.y_train[:300], full.test, full.kind)
    monkeypatch.setattr(demo, "_embedded", lambda: small)
    lines: list[str] = []
    table = run_demo(
        n_test_tasks=6, n_iterations=2, epochs=1, verbose=True, print_fn=lines.append, out_dir=tmp_path / "pics"
    )
    assert all(row in table for row in ROWS)
    assert "±" in table and "Omniglot subset shipped with metaaug" in table
    phases = [line for line in lines if line.startswith("[")]
    assert phases[0].startswith("[1/7]") and phases[-1] == "[7/7] done"
    for name in ("lasium_tasks.png", "generated_new_character.png"):
        path = tmp_path / "pics" / name
        assert f"picture: {path}" in table
        with Image.open(path) as image:
            assert image.mode == "RGB" and min(image.size) >= 56  # 28 px characters drawn at least 2x
    assert lines[-1] == table


def test_demo_on_digits_prints_every_row():
    lines = []
    table = run_demo("digits", n_test_tasks=10, n_iterations=3, epochs=1, verbose=False, print_fn=lines.append)
    assert all(row in table for row in ROWS)
    assert "±" in table and "digits" in table
    assert lines == [table]  # not verbose: only the table


def test_demo_split_is_the_benchmarks_split(omniglot_root, dev_split):
    """The demo's Omniglot table is comparable with docs/benchmarks.md: same alphabets, same images."""
    assert demo.OMNIGLOT_TRAIN_ALPHABETS == DEV_TRAIN_ALPHABETS
    assert demo.OMNIGLOT_TEST_ALPHABETS == DEV_TEST_ALPHABETS
    (X_train, y_train), (X_test, y_test) = dev_split
    for data in (demo._omniglot(str(omniglot_root)), demo._embedded()):
        assert torch.equal(data.y_train, y_train)
        assert torch.allclose(data.X_train, X_train, atol=0.5 / 255)
        ours = data.test.sample_tasks(2, random_state=0)
        theirs = LabeledTaskSampler(X_test, y_test).sample_tasks(2, random_state=0)
        assert all(torch.allclose(a.query_x, b.query_x, atol=0.5 / 255) for a, b in zip(ours, theirs))
