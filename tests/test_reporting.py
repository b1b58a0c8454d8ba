"""Benchmark-report helpers: provenance lines and tables."""
from __future__ import annotations

import torch

from metaaug.reporting import (
    format_accuracy,
    hardware_summary,
    markdown_table,
    provenance,
    publish_section,
    section_text,
)


def test_provenance_names_command_hardware_and_wall_time():
    lines = provenance("12 s", note="1 thread")
    assert len(lines) == 3
    assert lines[0].startswith("Command: `") and lines[0].endswith("(1 thread)  ")
    assert lines[1].startswith("Hardware: ") and "cores" in lines[1]
    assert lines[2] == "Wall time: 12 s"
    assert "(" not in provenance("1 s")[0].split("`")[-1]


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
