"""`make autograde`: grade submissions, export grades.csv and feedback that hides hidden tests.

    python -m instructor.autograde CHAPTER|all SUBMISSIONS [--grading-dir DIR] [--lms PRESET | --regex RE]

SUBMISSIONS is a folder or a .zip. Two kinds are understood:

- an LMS export, collected with ``nbgrader zip_collect``: each file name carries the student id,
  matched by ``--regex`` (named groups ``student_id`` and ``file_id``, optionally ``timestamp``)
  or a preset (``--lms attempt|canvas|moodle``, see instructor/collect.py); a .zip whose every
  notebook matches a preset is recognised without flags;
- one entry per student: ``STUDENT/CHAPTER.ipynb``, ``STUDENT/CHAPTER/CHAPTER.ipynb``,
  ``STUDENT/<one notebook>.ipynb`` (e.g. a Colab download) or ``STUDENT.ipynb``.

Each chapter is graded in ONE ``nbgrader autograde`` batch, every notebook in its own sandboxed
kernel (instructor/sandbox.py). A submission that cannot be graded at all (not a notebook, say)
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
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .collect import LMS_PRESETS, lms_regexp
from .nbgrader_cli import ROOT, chapter_ids, nbgrader
from .report import write_all as write_class_report
from .sandbox import SandboxError, require_sandbox

_STUDENT_ID = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass
class Batch:
    """What one chapter's grading produced."""

    chapter: str
    scores: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # no autograded notebook: scored 0, see the log
    flagged: list[str] = field(default_factory=list)  # code worth a look, see review.csv
    log: Path | None = None


# --------------------------------------------------------------------------- collecting

def find_submissions(folder: Path, chapter: str) -> dict[str, Path]:
    """Map student id → submitted notebook for the per-student layouts the module docstring lists."""
    found: dict[str, Path] = {}
    others = set(chapter_ids()) - {chapter}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        student = _STUDENT_ID.sub("-", entry.stem if entry.is_file() else entry.name).strip("-")
        if entry.is_file() and entry.suffix == ".ipynb" and entry.stem not in others:
            found[student] = entry
        elif entry.is_dir():
            candidates = [entry / f"{chapter}.ipynb", entry / chapter / f"{chapter}.ipynb"]
            notebooks = [p for p in candidates if p.exists()] or sorted(
                p for p in entry.rglob("*.ipynb") if p.stem not in others and p.parent.name not in others)
            notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
            if len(notebooks) == 1 or (notebooks and notebooks[0] in candidates):
                found[student] = notebooks[0]
            elif notebooks:
                print(f"warning: {entry.name} has {len(notebooks)} notebooks and none named {chapter}.ipynb; skipped")
    return found


def detect_preset(submissions: Path) -> str | None:
    """The LMS preset that every notebook in a .zip matches, if any."""
    if submissions.suffix != ".zip":
        return None
    with zipfile.ZipFile(submissions) as archive:
        names = [n for n in archive.namelist() if n.endswith(".ipynb") and not n.startswith("__MACOSX")]
    for preset, regexp in LMS_PRESETS.items():
        if names and all(any(re.fullmatch(regexp, "/".join(Path(n).parts[-k:])) for k in (1, 2)) for n in names):
            return preset
    return None


def collect_folders(submissions: Path, chapter: str, grading_dir: Path) -> list[str]:
    """Copy each student's notebook to submitted/STUDENT/CHAPTER/CHAPTER.ipynb."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = submissions
        if submissions.suffix == ".zip":
            with zipfile.ZipFile(submissions) as archive:
                archive.extractall(scratch)
            folder = Path(scratch)
            inner = [p for p in folder.iterdir() if not p.name.startswith("__MACOSX")]
            if len(inner) == 1 and inner[0].is_dir():
                folder = inner[0]
        students = find_submissions(folder, chapter)
        for student, notebook in students.items():
            target = grading_dir / "submitted" / student / chapter / f"{chapter}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target)
    return sorted(students)


def collect_lms(submissions: Path, chapter: str, grading_dir: Path, regexp: str) -> list[str]:
    """``nbgrader zip_collect``: file names → student ids (latest attempt wins when timestamped)."""
    archive = grading_dir / "downloaded" / chapter / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    archive.mkdir(parents=True)
    if submissions.is_dir():
        shutil.copytree(submissions, archive, dirs_exist_ok=True)
    else:
        shutil.copyfile(submissions, archive / submissions.name)
    before = _submitted(grading_dir, chapter)
    result = nbgrader("zip_collect", chapter, "--force", f"--CourseCollector.named_regexp={lms_regexp(regexp)}",
                      grading_dir=grading_dir)
    for line in (result.stdout + result.stderr).splitlines():  # files that were not collected, and why
        if re.search(r"Skipped|no match for|Invalid submission", line):
            print(f"warning: {chapter}: {line.split('] ', 1)[-1]}")
    return sorted(_submitted(grading_dir, chapter) - before) or sorted(_submitted(grading_dir, chapter))


def _submitted(grading_dir: Path, chapter: str) -> set[str]:
    return {p.parent.parent.name for p in (grading_dir / "submitted").glob(f"*/{chapter}/*.ipynb")}


def collect(submissions: Path, chapter: str, grading_dir: Path, regexp: str | None = None) -> list[str]:
    """Bring one chapter's submissions into submitted/; return the students collected."""
    regexp = regexp or detect_preset(submissions)
    if regexp:
        return collect_lms(submissions, chapter, grading_dir, regexp)
    return collect_folders(submissions, chapter, grading_dir)


# --------------------------------------------------------------------------- grading

def grade_chapter(chapter: str, grading_dir: Path) -> Batch:
    """Record the source in the gradebook and autograde every collected submission in one batch."""
    nbgrader("generate_assignment", chapter, "--force",
             f"--CourseDirectory.release_directory={grading_dir / 'release'}", grading_dir=grading_dir)
    result = nbgrader("autograde", chapter, "--force", grading_dir=grading_dir, check=False)
    batch = Batch(chapter, log=grading_dir / "logs" / f"autograde-{chapter}.log")
    batch.log.parent.mkdir(exist_ok=True)
    batch.log.write_text(result.stdout + result.stderr)
    for student in sorted(_submitted(grading_dir, chapter)):
        if not (grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb").exists():
            batch.failed.append(student)
    if result.returncode != 0 and not batch.failed:
        raise RuntimeError(f"nbgrader autograde {chapter} failed (exit {result.returncode}); see {batch.log}")
    return batch


# Code that can defeat in-process checks (or tries to read what it should not): listed for a human.
REVIEW_PATTERNS = {
    "sys.modules": r"\bsys\.modules\b", "ctypes": r"\bctypes\b", "builtins": r"\b__builtins__\b|\bbuiltins\b",
    "gc": r"\bgc\.get_(?:objects|referents|referrers)\b", "frame/closure internals":
        r"__closure__|cell_contents|__code__|__globals__|_getframe|f_back|f_locals",
    "class swap": r"__class__\s*=", "module dict": r"\bvars\(\s*(?:torch|grading|course_lib|F)\b|__dict__\[",
    "monkeypatch": r"^\s*(?:torch|F|grading|course_lib|math|np)(?:\.\w+)+\s*=(?!=)|setattr\(\s*(?:torch|F|grading|course_lib)",
    "torch modes": r"TorchFunctionMode|TorchDispatchMode|_push_mode|__torch_function__",
    "reference guard": r"\bREGISTRY\b|_blocked\b|references_blocked",
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


def export(grading_dir: Path) -> Path:
    """grades.csv for every chapter and student in the gradebook, rows sorted (reproducible)."""
    grades_csv = grading_dir / "grades.csv"
    nbgrader("export", f"--CsvExportPlugin.to={grades_csv}", grading_dir=grading_dir)
    return grades_csv


def read_scores(grades_csv: Path, chapter: str) -> dict[str, float]:
    """student id → raw score for one chapter, from nbgrader's CSV export."""
    with open(grades_csv, newline="") as handle:
        return {row["student_id"]: float(row["raw_score"] or 0) for row in csv.DictReader(handle)
                if row["assignment"] == chapter}


def autograde_chapters(chapters: list[str], submissions: Path, grading_dir: Path | None = None,
                       regexp: str | None = None, feedback: bool = True) -> list[Batch]:
    """Collect, grade (one batch per chapter), export grades.csv, write feedback."""
    unknown = sorted(set(chapters) - set(chapter_ids()))
    if unknown:
        raise ValueError(f"chapters must be among {chapter_ids()}; got {unknown}")
    grading_dir = Path(grading_dir or ROOT / "_grading").resolve()
    grading_dir.mkdir(parents=True, exist_ok=True)
    require_sandbox()
    collected = {chapter: collect(Path(submissions), chapter, grading_dir, regexp) for chapter in chapters}
    if not any(collected.values()):
        raise ValueError(f"no submissions found in {submissions} for {', '.join(chapters)}")
    batches = [grade_chapter(chapter, grading_dir) for chapter in chapters if collected[chapter]]
    grades_csv = export(grading_dir)
    write_review(grading_dir, [row for batch in batches for row in review(grading_dir, batch.chapter)])
    for batch in batches:
        batch.scores = read_scores(grades_csv, batch.chapter)
        batch.flagged = sorted({row[1] for row in review(grading_dir, batch.chapter)})
        if feedback:
            nbgrader("generate_feedback", batch.chapter, "--force", grading_dir=grading_dir, check=False)
    graded = [c for c in chapter_ids() if any((grading_dir / "autograded").glob(f"*/{c}/{c}.ipynb"))]
    write_class_report(grading_dir, graded)
    return batches


def autograde(chapter: str, submissions: Path, grading_dir: Path | None = None,
              regexp: str | None = None) -> dict[str, float]:
    """Grade one chapter; return student → raw score (every student in the gradebook)."""
    return autograde_chapters([chapter], submissions, grading_dir, regexp)[0].scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help="chapter id such as 03_attention, or 'all'")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    parser.add_argument("--grading-dir", type=Path, default=None, help="default: _grading/")
    names = parser.add_mutually_exclusive_group()
    names.add_argument("--lms", choices=sorted(LMS_PRESETS), help="file-name preset of an LMS export")
    names.add_argument("--regex", help="file-name regexp with (?P<student_id>) and (?P<file_id>) groups")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    args = parser.parse_args(argv)
    chapters = chapter_ids() if args.chapter == "all" else [args.chapter]
    try:
        batches = autograde_chapters(chapters, args.submissions, args.grading_dir, args.lms or args.regex,
                                     feedback=not args.no_feedback)
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
            print(f"  {len(batch.flagged)} submission(s) use code worth a look (scores unchanged): "
                  f"{', '.join(batch.flagged)}; see {grading_dir / 'review.csv'}")
    print(f"grades: {grading_dir / 'grades.csv'}\nfeedback: {grading_dir / 'feedback'}\n"
          f"class report: {grading_dir / 'report.html'} (named mistakes: {grading_dir / 'mistakes.csv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
