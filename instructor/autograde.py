"""`make autograde`: grade submissions, export grades.csv and feedback that hides hidden tests.

    python -m instructor.autograde CHAPTER|all SUBMISSIONS [--grading-dir DIR] [--lms PRESET | --regex RE]
                                   [--workers [N] | --scheduler tcp://HOST:8786]

SUBMISSIONS is a folder or a .zip. Two kinds are understood:

- an LMS export, collected with ``nbgrader zip_collect``: each file name carries the student id,
  matched by ``--regex`` (named groups ``student_id`` and ``file_id``, optionally ``timestamp``)
  or a preset (``--lms attempt|canvas|moodle``, see instructor/collect.py); a .zip whose every
  notebook matches a preset is recognised without flags;
- one entry per student: ``STUDENT/CHAPTER.ipynb``, ``STUDENT/CHAPTER/CHAPTER.ipynb``,
  ``STUDENT/<one notebook>.ipynb`` (e.g. a Colab download) or ``STUDENT.ipynb``.

Each chapter is graded in ONE ``nbgrader autograde`` batch, every notebook in its own sandboxed
kernel (instructor/sandbox.py); with ``--workers`` or ``--scheduler``, every submission of every
chapter is one task for a pool of Dask workers instead, with the same results
(instructor/workers.py; book/instructors.md starts a cluster).
A submission that cannot be graded at all (not a notebook, say)
is reported and scores 0; the others are unaffected. Everything produced goes to the grading
folder (default _grading/): submitted/, autograded/, feedback/ (HTML without hidden tests),
gradebook.db, grades.csv, review.csv (submissions whose code deserves a human look: module
patching, frame inspection, file or network access), mistakes.csv (the common mistakes the
feedback named: chapter, exercise, student, mistake), report.html (per chapter: score per exercise
and the most frequent named mistakes, as figures; instructor/report.py), logs/.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import workers as pool
from .collect import LMS_PRESETS, collect, submitted
from .export import export, read_scores
from .nbgrader_cli import ROOT, chapter_ids, nbgrader
from .report import write_all as write_class_report
from .sandbox import SandboxError, require_sandbox


@dataclass
class Batch:
    """What one chapter's grading produced."""

    chapter: str
    scores: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # no autograded notebook: scored 0, see the log
    flagged: list[str] = field(default_factory=list)  # code worth a look, see review.csv
    log: Path | None = None


# --------------------------------------------------------------------------- grading


def grade_chapter(chapter: str, grading_dir: Path, recorded: Path | None = None) -> Batch:
    """Record the source in the gradebook and autograde every collected submission in one batch.

    ``recorded``: a folder of notebooks already graded on workers (instructor/workers.py): the
    batch only saves their grades (nbgrader_config.py's record mode), it runs no kernel."""
    nbgrader(
        "generate_assignment",
        chapter,
        "--force",
        f"--CourseDirectory.release_directory={grading_dir / 'release'}",
        grading_dir=grading_dir,
    )
    record = {"COURSE_GRADING_RECORD": str(recorded)} if recorded else None
    result = nbgrader("autograde", chapter, "--force", grading_dir=grading_dir, check=False, extra_env=record)
    batch = Batch(chapter, log=grading_dir / "logs" / f"autograde-{chapter}.log")
    batch.log.parent.mkdir(exist_ok=True)
    batch.log.write_text(result.stdout + result.stderr)
    for student in sorted(submitted(grading_dir, chapter)):
        if not (grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb").exists():
            batch.failed.append(student)
    if result.returncode != 0 and not batch.failed:
        raise RuntimeError(f"nbgrader autograde {chapter} failed (exit {result.returncode}); see {batch.log}")
    return batch


# Code that can defeat in-process checks (or tries to read what it should not): listed for a human.
REVIEW_PATTERNS = {
    "sys.modules": r"\bsys\.modules\b",
    "ctypes": r"\bctypes\b",
    "builtins": r"\b__builtins__\b|\bbuiltins\b",
    "gc": r"\bgc\.get_(?:objects|referents|referrers)\b",
    "frame/closure internals": r"__closure__|cell_contents|__code__|__globals__|_getframe|f_back|f_locals",
    "class swap": r"__class__\s*=",
    "module dict": r"\bvars\(\s*(?:torch|grading|course_lib|F)\b|__dict__\[",
    "monkeypatch": r"^\s*(?:torch|F|grading|course_lib|math|np)(?:\.\w+)+\s*=(?!=)"
    r"|setattr\(\s*(?:torch|F|grading|course_lib)",
    "torch modes": r"TorchFunctionMode|TorchDispatchMode|_push_mode|__torch_function__",
    "reference guard": r"\bREGISTRY\b|_blocked\b|_writing\b|references_blocked",
    "hidden-test source": r"\bIn\[|\b_ih\b|\b_i\d*\b|linecache|get_ipython\(\)\.history|inspect\.getsource",
    "files/processes/network": r"\bsubprocess\b|os\.system|\bsocket\b|urllib|requests\.|\bsolutions\b|gradebook"
    r"|sqlite3|site-packages|getsitepackages|__file__",
}


def review(grading_dir: Path, chapter: str) -> list[tuple[str, str, str, str]]:
    """(chapter, student, what, line) for submitted code matching REVIEW_PATTERNS that the release
    does not contain; written to review.csv. Scores are not changed: a person decides."""
    import nbformat

    release = ROOT / "chapters" / chapter / f"{chapter}.ipynb"
    course_code = "\n".join(c.source for c in nbformat.read(release, as_version=4).cells if c.cell_type == "code")
    rows = []
    for path in sorted((grading_dir / "submitted").glob(f"*/{chapter}/*.ipynb")):
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # not a notebook: already reported as not graded
            continue
        for line in "\n".join(c.source for c in cells if c.cell_type == "code").splitlines():
            if not line.strip() or line in course_code:
                continue
            for what, pattern in REVIEW_PATTERNS.items():
                if re.search(pattern, line):
                    rows.append((chapter, path.parent.parent.name, what, line.strip()[:200]))
    return rows


def write_review(grading_dir: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    target = grading_dir / "review.csv"
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["assignment", "student_id", "what", "line"])
        writer.writerows(sorted(set(rows)))
    return target


def autograde_chapters(
    chapters: list[str],
    submissions: Path,
    grading_dir: Path | None = None,
    regexp: str | None = None,
    feedback: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
) -> list[Batch]:
    """Collect, grade, export grades.csv, write feedback.

    Serially (one nbgrader batch per chapter), or, with ``workers`` (0: as many as the machine
    affords) or a Dask ``scheduler`` address, every chapter's submissions in one pool of workers
    (instructor/workers.py); the results are the same."""
    unknown = sorted(set(chapters) - set(chapter_ids()))
    if unknown:
        raise ValueError(f"chapters must be among {chapter_ids()}; got {unknown}")
    grading_dir = Path(grading_dir or ROOT / "_grading").resolve()
    grading_dir.mkdir(parents=True, exist_ok=True)
    require_sandbox()
    collected = {chapter: collect(Path(submissions), chapter, grading_dir, regexp) for chapter in chapters}
    if not any(collected.values()):
        raise ValueError(f"no submissions found in {submissions} for {', '.join(chapters)}")
    chapters = [chapter for chapter in chapters if collected[chapter]]

    def finish(chapter: str, recorded: Path | None = None) -> Batch:
        """A chapter's gradebook entries and feedback, once all its submissions are graded (on
        workers, each wrote its submission's feedback page: those are published instead)."""
        batch = grade_chapter(chapter, grading_dir, recorded)
        if feedback and not (recorded and pool.publish_feedback(grading_dir, chapter)):
            nbgrader("generate_feedback", chapter, "--force", grading_dir=grading_dir, check=False)
        return batch

    if workers is not None or scheduler:
        batches = _on_workers(chapters, grading_dir, finish, workers, scheduler, feedback)
    else:
        batches = [finish(chapter) for chapter in chapters]
    grades_csv = export(grading_dir)
    reviewed = {batch.chapter: review(grading_dir, batch.chapter) for batch in batches}
    write_review(grading_dir, [row for rows in reviewed.values() for row in rows])
    for batch in batches:
        batch.scores = read_scores(grades_csv, batch.chapter)
        batch.flagged = sorted({row[1] for row in reviewed[batch.chapter]})
    graded = [c for c in chapter_ids() if any((grading_dir / "autograded").glob(f"*/{c}/{c}.ipynb"))]
    write_class_report(grading_dir, graded)
    return batches


def _on_workers(
    chapters: list[str], grading_dir: Path, finish, workers: int | None, scheduler: str | None, feedback: bool
) -> list[Batch]:
    """Grade on the Dask pool; record each chapter (``finish``) as soon as its last submission is
    back, in one background thread (the gradebook has one writer at a time), while the pool goes on
    with the other chapters. Returns the batches in the order of ``chapters``."""
    from concurrent.futures import ThreadPoolExecutor

    recorded = pool.results_dir(grading_dir)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record") as recorder:
        jobs = {}

        def chapter_done(chapter: str) -> None:
            jobs[chapter] = recorder.submit(finish, chapter, recorded)

        pool.grade_on_workers(
            grading_dir, chapters, workers or None, scheduler, on_chapter_done=chapter_done, feedback=feedback
        )
        return [jobs[chapter].result() for chapter in chapters]


def autograde(
    chapter: str, submissions: Path, grading_dir: Path | None = None, regexp: str | None = None
) -> dict[str, float]:
    """Grade one chapter; return student → raw score (every student in the gradebook)."""
    return autograde_chapters([chapter], submissions, grading_dir, regexp)[0].scores


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """--workers and --scheduler, for this CLI and instructor.selftest's."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="N",
        help="grade on a Dask LocalCluster of N worker processes (no N: the cores, "
        "bounded by memory at COURSE_WORKER_MEMORY=2G each)",
    )
    where.add_argument("--scheduler", metavar="tcp://HOST:8786", help="grade on an existing Dask cluster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help="chapter id such as 03_attention, or 'all'")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    parser.add_argument("--grading-dir", type=Path, default=None, help="default: _grading/")
    names = parser.add_mutually_exclusive_group()
    names.add_argument("--lms", choices=sorted(LMS_PRESETS), help="file-name preset of an LMS export")
    names.add_argument("--regex", help="file-name regexp with (?P<student_id>) and (?P<file_id>) groups")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    add_worker_options(parser)
    args = parser.parse_args(argv)
    chapters = chapter_ids() if args.chapter == "all" else [args.chapter]
    try:
        batches = autograde_chapters(
            chapters,
            args.submissions,
            args.grading_dir,
            args.lms or args.regex,
            feedback=not args.no_feedback,
            workers=args.workers,
            scheduler=args.scheduler,
        )
    except (SandboxError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    grading_dir = (args.grading_dir or ROOT / "_grading").resolve()
    for batch in batches:
        print(f"{batch.chapter}:")
        width = max(map(len, batch.scores), default=0)
        for student, score in sorted(batch.scores.items()):
            flag = "  NOT GRADED (see log)" if student in batch.failed else ""
            print(f"  {student:<{width}}  {score:g}{flag}")
        if batch.failed:
            print(f"  {len(batch.failed)} submission(s) could not be graded and score 0: {batch.log}")
        if batch.flagged:
            print(
                f"  {len(batch.flagged)} submission(s) use code worth a look (scores unchanged): "
                f"{', '.join(batch.flagged)}; see {grading_dir / 'review.csv'}"
            )
    print(
        f"grades: {grading_dir / 'grades.csv'}\nfeedback: {grading_dir / 'feedback'}\n"
        f"class report: {grading_dir / 'report.html'} (named mistakes: {grading_dir / 'mistakes.csv'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
