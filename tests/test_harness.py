"""The benchmark harness (benchmarks/_harness): report sections, the dev split, the feature cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks._harness import dev_split, feature_cache
from benchmarks._harness.reporting import (
    BENCHMARKS_DOC,
    command_line,
    format_accuracy,
    hardware_summary,
    markdown_table,
    provenance,
    publish_section,
    section_text,
    update_benchmarks_doc,
)

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------ reporting
def test_provenance_names_command_hardware_and_wall_time():
    lines = provenance("12 s", note="1 thread")
    assert len(lines) == 3
    assert lines[0].startswith("Command: `") and lines[0].endswith("(1 thread)  ")
    assert lines[1].startswith("Hardware: ") and "cores" in lines[1]
    assert lines[2] == "Wall time: 12 s"
    assert "(" not in provenance("1 s")[0].split("`")[-1]


def test_command_line_quotes_a_module_run_as_a_module(monkeypatch):
    main = type(sys)("__main__")
    main.__spec__ = type("Spec", (), {"name": "benchmarks.tables.demo_table"})()
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "tables" / "demo_table.py"), "--quick"])
    assert command_line() == "python -m benchmarks.tables.demo_table --quick"


def test_markdown_table_and_accuracy_format():
    table = markdown_table([{"method": "a", "acc": format_accuracy(0.9264, 0.0042)}])
    assert table.splitlines()[0] == "| method | acc |"
    assert "92.64 ± 0.42" in table


def test_publish_section_prints_and_writes_only_when_asked(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    publish_section("demo", "## Demo\n\nbody", write=False, path=doc)
    assert "## Demo" in capsys.readouterr().out and not doc.exists()
    publish_section("demo", "## Demo\n\nbody", write=True, path=doc)
    text = doc.read_text()
    assert "<!-- BEGIN demo -->\n## Demo\n\nbody\n<!-- END demo -->" in text


def test_update_replaces_only_its_own_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    update_benchmarks_doc("a", "first a", path=doc)
    update_benchmarks_doc("b", "only b", path=doc)
    update_benchmarks_doc("a", "second a", path=doc)
    text = doc.read_text()
    assert text.startswith("# Benchmarks") and "first a" not in text
    assert text.index("second a") < text.index("only b")


def test_section_text_is_title_provenance_then_blocks():
    text = section_text("Speed", "3 s", "a paragraph", "| t |", note="1 thread")
    lines = text.splitlines()
    assert lines[0] == "## Speed" and lines[1] == ""
    assert lines[2:5] == provenance("3 s", note="1 thread")
    assert lines[5:] == ["", "a paragraph", "", "| t |"]


def test_hardware_summary_names_the_thread_count_only_when_asked():
    threads = f"with {torch.get_num_threads()} threads"
    assert threads in hardware_summary()
    without = hardware_summary(include_threads=False)
    assert "threads" not in without and f"torch {torch.__version__}," in without


def test_the_benchmarks_page_is_the_repositorys():
    assert BENCHMARKS_DOC == ROOT / "docs" / "benchmarks.md"


# ------------------------------------------------------------ dev split
def test_omniglot_root_comes_from_the_environment_first(monkeypatch, tmp_path):
    monkeypatch.setenv("METAAUG_OMNIGLOT", str(tmp_path))
    assert dev_split.default_omniglot_root() == tmp_path


def test_dev_split_needs_data(monkeypatch):
    monkeypatch.setattr(dev_split, "default_omniglot_root", lambda: None)
    with pytest.raises(FileNotFoundError, match="METAAUG_OMNIGLOT"):
        dev_split.load_dev_split()


# ------------------------------------------------------------ feature cache
def test_cache_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("METAAUG_CACHE", str(tmp_path))
    assert feature_cache.default_cache_dir() == tmp_path


def test_cached_extractor_is_reused_and_checked(digits, tmp_path):
    X, y = digits
    path = tmp_path / "cache.pt"
    fitted = feature_cache.domain_feature_extractor(
        X[:300], y[:300], cache_path=path, hidden=8, epochs=1, verbose=False
    )
    assert path.is_file()
    cached = feature_cache.domain_feature_extractor(X[:300], y[:300], cache_path=path, hidden=8, epochs=50)
    assert cached.epochs == 1  # loaded, not refitted
    assert torch.equal(cached.embed(X[:20]), fitted.embed(X[:20]))
    with pytest.raises(ValueError, match="shape"):
        feature_cache.domain_feature_extractor(torch.zeros(10, 1, 12, 12), np.arange(10) % 2, cache_path=path)


def test_dev_extractor_loads_the_cache_without_reading_omniglot(digits, tmp_path, monkeypatch):
    X, y = digits
    path = tmp_path / "dev.pt"
    fitted = feature_cache.domain_feature_extractor(
        X[:300], y[:300], cache_path=path, hidden=8, epochs=1, verbose=False
    )
    monkeypatch.setattr(feature_cache, "load_dev_split", lambda *a, **k: pytest.fail("read the data"))
    loaded = feature_cache.dev_feature_extractor(image_size=8, cache_path=path)
    assert torch.equal(loaded.embed(X[:5]), fitted.embed(X[:5]))
