"""Chapter notebooks run time, in fast mode and in full mode.

Every ``solutions/NN_slug/NN_slug.ipynb`` is executed with nbclient exactly as a reader's
kernel would run it (kernel python3, working directory = the notebook's folder), once with
``COURSE_LIB_FAST=1`` and once with ``COURSE_LIB_FAST=0``. The notebook is read into
memory and executed there: nothing is written back to disk. Wall time includes the kernel's
start-up, as a student would see it. DESIGN §9's targets: fast ≤ 30 s, full ≤ 180 s.
"""

from __future__ import annotations

import copy
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from contention import QUIET_CORES, CpuMeter, wait_for_quiet
from nbclient import NotebookClient

from course_lib.results import RESULTS_ENV, Result, read_results

TARGET_S = {"fast": 30.0, "full": 180.0}  # DESIGN §9, per chapter on a 2-core CPU
FAST_FLAG = {"fast": "1", "full": "0"}  # value of COURSE_LIB_FAST for each mode
CELL_TIMEOUT_S = 900
KERNEL = "python3"
# nbclient skips cells tagged "skip-execution" by default; the solution notebooks tag their
# exercise and test cells that way (so the website does not run stubs). A benchmark of the
# chapter must run every cell, so the skip tag is set to one that no notebook uses.
NEVER_USED_TAG = "benchmarks-never-skip"
CHAPTER_NAME = re.compile(r"^\d{2}_[a-z0-9_]+$")


@dataclass
class NotebookRun:
    """One execution of one chapter in one mode."""

    chapter: str  # e.g. "03_attention"
    mode: str  # "fast" or "full"
    seconds: float  # wall time, kernel start-up included
    passed: bool  # every cell ran without an error
    error: str  # first line of the error when it failed, else ""
    others_cores: float = math.nan  # cores other processes kept busy meanwhile (nan: unknown)
    results: list[Result] = field(default_factory=list)  # figures the notebook recorded

    @property
    def meets_target(self) -> bool:
        return self.passed and self.seconds <= TARGET_S[self.mode]


def discover_chapters(repo_root: Path) -> list[Path]:
    """Every solutions/NN_slug/NN_slug.ipynb, sorted by chapter number."""
    found = []
    for path in sorted((repo_root / "solutions").glob("*/*.ipynb")):
        if path.stem == path.parent.name and CHAPTER_NAME.match(path.stem):
            found.append(path)
    return found


def kernel_env(mode: str, results_file: Path) -> dict[str, str]:
    """The kernel's environment: ours, the mode's COURSE_LIB_FAST, the file that collects
    ``course_lib.results.record_result`` calls, and this Python's bin/ first on PATH (the
    python3 kernelspec runs ``python``, which must be the venv's)."""
    env = dict(os.environ)
    env["COURSE_LIB_FAST"] = FAST_FLAG[mode]
    env[RESULTS_ENV] = str(results_file)
    env.pop("NBGRADER_EXECUTION", None)  # it would force fast mode on
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def first_line(error: BaseException) -> str:
    """A short, table-friendly description of why a run failed, e.g. 'ValueError: bad shape'."""
    name = getattr(error, "ename", "") or type(error).__name__  # CellExecutionError has ename
    value = getattr(error, "evalue", None)
    if value is None:
        value = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{name}: {value}".replace("|", "\\|")[:160]


def run_notebook(path: Path, mode: str) -> NotebookRun:
    """Execute an in-memory copy of the notebook at ``path`` in ``mode``; time it."""
    nb = copy.deepcopy(nbformat.read(path, as_version=4))
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        skip_cells_with_tag=NEVER_USED_TAG,
        resources={"metadata": {"path": str(path.parent)}},
    )
    with tempfile.TemporaryDirectory() as tmp, CpuMeter() as meter:  # the kernel is our child
        results_file = Path(tmp) / "results.jsonl"
        start = time.perf_counter()
        try:
            client.execute(env=kernel_env(mode, results_file), cwd=str(path.parent))
            passed, error = True, ""
        except Exception as exc:  # a failed cell, a timeout, a dead kernel: all are "failed"
            passed, error = False, first_line(exc)
        seconds = time.perf_counter() - start
        results = read_results(results_file)
    return NotebookRun(path.stem, mode, seconds, passed, error, meter.others_cores, results)


def run_notebooks(repo_root: Path, modes: list[str], wait_s: float, log=print) -> list[NotebookRun]:
    """Every chapter in every mode, in chapter order. Before each run, wait at most
    ``wait_s`` seconds for other processes to leave the CPU alone."""
    runs = []
    for path in discover_chapters(repo_root):
        for mode in modes:
            waited = wait_for_quiet(wait_s)
            log(f"  notebook {path.stem} ({mode} mode), after waiting {waited:.0f} s ...")
            run = run_notebook(path, mode)
            status = "passed" if run.passed else f"FAILED: {run.error}"
            log(f"    {run.seconds:.1f} s, {status}, others' CPU {run.others_cores:.2f} cores")
            runs.append(run)
    return runs


def notebooks_markdown(runs: list[NotebookRun], modes: list[str], wait_s: float) -> str:
    """The notebook section of docs/benchmarks.md: one row per chapter, one column pair per mode."""
    parts = [
        "## 2. Chapter notebooks run time",
        "",
        "Each `solutions/NN_slug/NN_slug.ipynb` executed in memory with nbclient "
        f"(kernel `{KERNEL}`, {CELL_TIMEOUT_S} s per cell, working directory = the notebook's "
        "folder, every cell run including the solutions and their tests). Wall seconds "
        "include the kernel's start-up. *Others' CPU* is the CPU other processes used "
        f"meanwhile; above {QUIET_CORES:g} core (‡) the time overstates the notebook's own. "
        f"Before each run the benchmark waits up to {wait_s:g} s for the machine to go quiet.",
        "",
        f"**Targets (DESIGN §9):** fast mode (`COURSE_LIB_FAST=1`) ≤ {TARGET_S['fast']:g} s, "
        f"full mode (`COURSE_LIB_FAST=0`) ≤ {TARGET_S['full']:g} s.",
        "",
    ]
    if "full" not in modes:
        parts += ["Full mode was not run (`--quick`).", ""]
    if not runs:
        parts += ["No chapter notebooks found under `solutions/`.", ""]
        return "\n".join(parts)
    header = "| chapter |" + "".join(f" {m} (s) | {m} ok? |" for m in modes)
    header += f" others' CPU (cores), {' / '.join(modes)} |"
    parts += [header, "|---|" + "---:|---|" * len(modes) + "---:|"]
    by_key = {(r.chapter, r.mode): r for r in runs}
    for chapter in dict.fromkeys(r.chapter for r in runs):
        chapter_runs = [by_key[(chapter, mode)] for mode in modes]
        cells = "".join(
            f" {run.seconds:.1f}{' ‡' if run.others_cores > QUIET_CORES else ''} | {verdict(run)} |"
            for run in chapter_runs
        )
        others = " / ".join(f"{run.others_cores:.2f}" for run in chapter_runs)
        parts.append(f"| {chapter} |{cells} {others} |")
    parts.append("")
    failures = [r for r in runs if not r.passed]
    if failures:
        parts += ["Failures:", ""]
        parts += [f"- {r.chapter} ({r.mode}): {r.error}" for r in failures]
        parts.append("")
    return "\n".join(parts)


def verdict(run: NotebookRun) -> str:
    """'yes' when it passed within target, otherwise what went wrong."""
    if not run.passed:
        return "**failed**"
    if run.meets_target:
        return "yes"
    return f"**no** (> {TARGET_S[run.mode]:g} s)"


def results_markdown(runs: list[NotebookRun], mode: str = "full") -> str:
    """The measured figures each chapter recorded in ``mode``, against the chapter's targets."""
    parts = [
        f"### Measured figures ({mode} mode)",
        "",
        "What each chapter measured in the runs above, recorded by the notebook with "
        "`course_lib.results.record_result` (the targets are the chapters' issues and DESIGN §5). "
        "A figure without a target is shown for reference.",
        "",
    ]
    chosen = [r for r in runs if r.mode == mode]
    if not chosen:
        return "\n".join(parts + [f"{mode.capitalize()} mode was not run.", ""])
    parts += ["| chapter | figure | measured | target | met? |", "|---|---|---:|---|---|"]
    for run in chosen:
        if not run.results:
            parts.append(f"| {run.chapter} | (none recorded{'' if run.passed else '; the run failed'}) | | | |")
        for result in run.results:
            met = {None: "", True: "yes", False: "**no**"}[result.meets_target]
            parts.append(f"| {run.chapter} | {result.name} | {result.show()} | {result.target_text()} | {met} |")
    parts.append("")
    return "\n".join(parts)
