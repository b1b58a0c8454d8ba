"""The user examples run (each at a tiny size), and examples/benchmarks keep to the public API.

Every script in ``examples/`` has a ``main(argv)``; here each runs on digits
with budgets of a step or two. The import rules of CONTRIBUTING.md are
checked on the source: no ``metaaug._*`` module or leading-underscore name or
attribute, and no script importing another script (benchmark scripts share
code through ``benchmarks/_harness/`` and ``benchmarks/tables/_shared.py``
only; examples import no benchmark code at all).
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPT_DIRS = (EXAMPLES, ROOT / "benchmarks" / "tables", ROOT / "benchmarks" / "speed")
SHARED_MODULES = {"benchmarks.tables._shared"}


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lasium_to_maml_runs(capsys):
    accuracy = load_example("lasium_to_maml").main(
        ["--epochs", "1", "--hidden", "8", "--steps", "2", "--test-tasks", "2"]
    )
    assert 0.0 <= accuracy <= 1.0
    assert "held-out classes" in capsys.readouterr().out


def test_lasium_own_generator_runs(capsys):
    results = load_example("lasium_own_generator").main(
        ["--vae-epochs", "1", "--gan-epochs", "1", "--iterations", "2", "--test-tasks", "3"]
    )
    assert len(results) == 2 and all(0.0 <= acc <= 1.0 for acc in results.values())
    assert "MSGAN as a plain module" in capsys.readouterr().out


def test_augment_classifier_runs():
    results = load_example("augment_classifier").main(["--epochs", "1", "--hidden", "8", "--clf-epochs", "1"])
    assert len(results) == 2 and all(0.0 <= acc <= 1.0 for acc in results.values())


def test_compare_samplers_runs(capsys):
    rows = load_example("compare_samplers").main(["--epochs", "1", "--iterations", "2", "--test-tasks", "5"])
    assert [row["tasks from"].split()[0] for row in rows] == ["none:", "LASIUM", "UMTRA", "CACTUs"]
    assert "| tasks from | accuracy (%) | seconds |" in capsys.readouterr().out


def test_compare_samplers_reads_a_class_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in range(10):
        folder = tmp_path / f"class_{label:02d}"
        folder.mkdir()
        for i in range(3):
            pixels = (rng.random((12, 12)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    X_train, X_test, y_test = load_example("compare_samplers").load_split(str(tmp_path), size=8)
    assert X_train.shape == (15, 1, 8, 8) and X_test.shape == (15, 1, 8, 8)
    assert sorted(y_test.unique().tolist()) == [5, 6, 7, 8, 9]
    assert 0.0 <= float(X_train.min()) and float(X_train.max()) <= 1.0


@pytest.mark.parametrize("generator", ["ae", "mixup"])
def test_new_class_from_seeds_writes_a_grid(tmp_path, generator):
    out = tmp_path / "grid.png"
    path = load_example("new_class_from_seeds").main(
        ["--generator", generator, "--epochs", "1", "--classes", "2", "--k", "2", "--n", "3", "--out", str(out)]
    )
    assert path == out
    with Image.open(out) as image:
        assert image.width > image.height > 0


def test_evaluate_protocol_runs():
    accuracies = load_example("evaluate_protocol").main(["--iterations", "2", "--tasks", "3,6"])
    assert len(accuracies) == 2
    assert all(values.shape == (6,) for values in accuracies.values())


# ------------------------------------------------------------------ import rules
def scripts() -> list[Path]:
    return sorted(p for folder in SCRIPT_DIRS for p in folder.glob("*.py") if p.name != "__init__.py")


def import_problems(path: Path, script_names: set[str]) -> list[str]:
    """Imports and attributes of ``path`` that break the rules, one message each."""
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        modules: list[str] = []
        names: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            problems.append(f"line {node.lineno}: private attribute .{node.attr}")
        for module in modules:
            parts = module.split(".")
            if parts[0] == "metaaug" and any(part.startswith("_") for part in parts):
                problems.append(f"line {node.lineno}: imports private module {module}")
            if parts[0] == "metaaug" and any(name.startswith("_") for name in names):
                problems.append(f"line {node.lineno}: imports a private name from {module}")
            if parts[0] in script_names or (
                module.startswith(("benchmarks.tables.", "benchmarks.speed.")) and module not in SHARED_MODULES
            ):
                problems.append(f"line {node.lineno}: imports the script {module}")
            if path.parent == EXAMPLES and parts[0] == "benchmarks":
                problems.append(f"line {node.lineno}: an example imports benchmark code ({module})")
    return problems


def test_scripts_exist():
    names = {p.parent.name for p in scripts()}
    assert names == {"examples", "tables", "speed"}


@pytest.mark.parametrize("path", scripts(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_use_public_api_and_import_no_script(path):
    script_names = {p.stem for p in scripts()}
    assert import_problems(path, script_names) == []


def test_the_import_rules_catch_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from metaaug._random import check_rng\nimport judges\n"
        "from benchmarks.tables.generation_benchmark import Row\nx = torch._C\n"
    )
    problems = import_problems(bad, {"judges"})
    assert len(problems) == 4, problems


def test_examples_are_short():
    for path in EXAMPLES.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 130, path.name
    assert len(list(EXAMPLES.glob("*.py"))) >= 4


# ------------------------------------------------------------------ benchmarks/tables/_shared.py
def test_shared_seeding_matches_the_estimators():
    from benchmarks.tables import _shared
    from metaaug._random import check_rng, torch_generator, torch_seeded

    ours, theirs = _shared.torch_generator(7), torch_generator(check_rng(7))
    assert torch.equal(torch.rand(5, generator=ours), torch.rand(5, generator=theirs))
    before = torch.random.get_rng_state()
    with _shared.torch_seeded(3):
        a = torch.rand(4)
    with torch_seeded(check_rng(3)):
        b = torch.rand(4)
    assert torch.equal(a, b) and torch.equal(torch.random.get_rng_state(), before)


def test_shared_json_store_merges(tmp_path):
    from benchmarks.tables._shared import update_json_store

    path = tmp_path / "results.json"
    update_json_store(path, lambda stored: {**stored, "a": 1})
    merged = update_json_store(path, lambda stored: {**stored, "b": 2})
    assert merged == {"a": 1, "b": 2} == json.loads(path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no lock or partial file left


def test_shared_model_cache_fits_once_then_loads(tmp_path, digits):
    from benchmarks.tables._shared import fit_stats_path, load_or_fit_models, model_path

    X = digits[0][:128]
    models, rows = load_or_fit_models(["AE", "VAE"], X, epochs=1, hidden=4, models_dir=tmp_path)
    assert model_path(tmp_path, "AE", 1, 4).is_file() and fit_stats_path(tmp_path, "VAE", 1, 4).is_file()
    again, rows_again = load_or_fit_models(["AE", "VAE"], X, epochs=1, hidden=4, models_dir=tmp_path)
    assert rows_again == rows
    for name in ("AE", "VAE"):
        assert models[name].reconstruction_error(X) == pytest.approx(again[name].reconstruction_error(X))


def test_shared_judge_file_names_record_the_settings(tmp_path):
    from benchmarks.tables._shared import describe_judge, judge_path

    assert judge_path(tmp_path).name == "protonet_dev_train_20w2s_soft600_rot.pt"
    assert (
        judge_path(tmp_path, soften=False, rotated_classes=False, max_time=180).name
        == "protonet_dev_train_20w2s_crisp180.pt"
    )
    assert "soft-stroke, rotated classes, 600 s" in describe_judge()
