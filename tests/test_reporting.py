"""Benchmark-report helpers: provenance lines and tables."""
from __future__ import annotations

from metaaug.reporting import format_accuracy, markdown_table, provenance


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
