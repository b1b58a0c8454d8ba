"""Benchmark reports: the hardware line, markdown tables and the sections of ``docs/benchmarks.md``."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import torch

BENCHMARKS_DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "benchmarks.md"

# the top of a new docs/benchmarks.md (sections follow, each owned by one script)
BENCHMARKS_INTRO = """# Benchmarks

Every number in metaaug's documentation is measured, and this page holds them all. Each section is
written by one script (through `benchmarks._harness.reporting.update_benchmarks_doc`) and names the
exact command, the hardware, the torch thread count and the wall time that produced it; rerunning the
command replaces its section. The scripts live in `benchmarks/tables/` (the tables) and
`benchmarks/speed/` (speed measurements) and run from the repository root as modules, e.g.
`python -m benchmarks.tables.omniglot_baselines` (`--quick` for a smoke run where a script has it).

How to read the tables:

- **Hardware.** Unless a section says otherwise: a 2-core AMD EPYC CPU without GPU, shared with other
  jobs while the tables were made. Most runs used one torch thread on one of the two cores, so their
  wall times are upper bounds of what a quiet machine gives.
- **Data.** The Omniglot dev split at 28x28 (ink = 1): 6 training alphabets (3700 images, 185
  characters), used without labels by the unsupervised methods, against Korean + Tagalog (1140
  images, 57 characters) that no method sees in training.
- **Uncertainty.** Accuracies are means with 95% confidence intervals (1.96 x std / sqrt(n)) over
  test tasks or training seeds.
- **Budgets.** Training budgets are minutes on a CPU instead of the papers' hours on a GPU, so absolute
  numbers sit below the papers'; rows of one table share a budget unless the table says otherwise.
"""


def hardware_summary(include_threads: bool = True) -> str:
    """One line: CPU model, cores, torch threads, GPU if any, torch and Python versions.

    ``include_threads=False`` leaves out this process's thread count, for
    reports that list the threads of the runs they summarise instead.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    threads = f" with {torch.get_num_threads()} threads" if include_threads else ""
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}{threads}, {gpu}, Python {platform.python_version()}"
    )


def command_line() -> str:
    """The command that is running, as a user would retype it.

    A script run as a module (``python -m benchmarks.tables.x``) is quoted
    that way, so the command works again from the repository root.
    """
    main = sys.modules.get("__main__")
    module = getattr(getattr(main, "__spec__", None), "name", None)
    if module:
        argv = ["-m", module.removesuffix(".__main__")] + sys.argv[1:]
    else:
        argv = [Path(sys.argv[0]).as_posix()] + sys.argv[1:]
        try:
            argv[0] = os.path.relpath(argv[0])
        except ValueError:
            pass
    return "python " + " ".join(shlex.quote(a) for a in argv)


def provenance(wall_time: str, note: str = "") -> list[str]:
    """The "Command / Hardware / Wall time" lines every benchmark section starts with.

    Parameters
    ----------
    wall_time : str
        Already formatted, e.g. ``"42 s"``.
    note : str
        Appended to the command line in parentheses (how the run was set up), if given.
    """
    suffix = f" ({note})" if note else ""
    return [f"Command: `{command_line()}`{suffix}  ", f"Hardware: {hardware_summary()}  ", f"Wall time: {wall_time}"]


def section_text(title: str, wall_time: str, *blocks: str, note: str = "") -> str:
    """A benchmark section: ``## title``, the :func:`provenance` lines, then ``blocks``, blank lines between."""
    return "\n".join(
        [f"## {title}", "", *provenance(wall_time, note), *(line for block in blocks for line in ("", block))]
    )


def report_text(title: str, description: str, wall_seconds: float, *blocks: str, threads: bool = True) -> str:
    """A stand-alone report: ``# title``, ``description``, the command, hardware and wall time, then ``blocks``."""
    lines = [f"# {title}", "", description, "", f"Command: `{command_line()}`  "]
    lines += [f"Hardware: {hardware_summary(include_threads=threads)}  ", f"Wall time: {wall_seconds:.0f} s"]
    return "\n".join([*lines, *(line for block in blocks for line in ("", block)), ""])


def publish_report(text: str, path: Path | None) -> None:
    """Print ``text`` and, when ``path`` is given, write it there (creating the folder)."""
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def docstring_paragraph(doc: str | None, index: int = 1) -> str:
    """Paragraph ``index`` of a module docstring on one line (a script's description of what it measures)."""
    return (doc or "").split("\n\n")[index].replace("\n", " ")


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table from a list of dicts (column order from the first row)."""
    if not rows:
        return "(no rows)\n"
    columns = list(columns or rows[0].keys())
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(out) + "\n"


def format_accuracy(mean: float, ci95: float) -> str:
    """``"92.31 ± 0.45"`` (percent)."""
    return f"{100 * mean:.2f} ± {100 * ci95:.2f}"


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[IO[str]]:
    """Hold an exclusive lock on the file ``path`` for the block (POSIX; no lock where ``fcntl`` is missing).

    Keeps concurrent benchmark processes apart when they write the same file.
    """
    with open(path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: benchmark writers are not run concurrently there
            yield handle
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def update_benchmarks_doc(section: str, body: str, path: str | Path | None = None) -> Path:
    """Replace (or append) the section ``section`` of ``docs/benchmarks.md``.

    Sections are delimited by ``<!-- BEGIN section -->`` / ``<!-- END section -->``
    markers, so independent scripts update their own tables; a file lock keeps
    concurrent writers apart.
    """
    path = Path(path) if path is not None else BENCHMARKS_DOC
    path.parent.mkdir(parents=True, exist_ok=True)
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    with exclusive_lock(path.with_suffix(".lock")):
        text = path.read_text() if path.exists() else BENCHMARKS_INTRO
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)
    return path


def publish_section(section: str, body: str, write: bool, path: str | Path | None = None) -> None:
    """Print a benchmark section and, when ``write``, put it into ``docs/benchmarks.md``."""
    print(body)
    if write:
        update_benchmarks_doc(section, body, path)
