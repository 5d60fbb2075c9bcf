"""`make autograde`: grade one chapter's submissions, export grades.csv and safe feedback.

    python -m instructor.autograde CHAPTER SUBMISSIONS [--grading-dir DIR]

SUBMISSIONS is a folder (or a .zip of one) with one entry per student, any of
    STUDENT/CHAPTER.ipynb   STUDENT/CHAPTER/CHAPTER.ipynb   STUDENT/<any single>.ipynb   STUDENT.ipynb
Everything produced goes to the grading folder (default _grading/, git-ignored):
submitted/, autograded/, feedback/ (HTML without hidden tests), gradebook.db, grades.csv.
"""
from __future__ import annotations

import argparse
import csv
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from .nbgrader_cli import ROOT, chapter_ids, nbgrader

_STUDENT_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def find_submissions(folder: Path, chapter: str) -> dict[str, Path]:
    """Map student id → submitted notebook for the layouts the module docstring lists."""
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        student = _STUDENT_ID.sub("-", entry.stem if entry.is_file() else entry.name).strip("-")
        if entry.is_file() and entry.suffix == ".ipynb":
            found[student] = entry
        elif entry.is_dir():
            candidates = [entry / f"{chapter}.ipynb", entry / chapter / f"{chapter}.ipynb"]
            notebooks = [p for p in candidates if p.exists()] or sorted(entry.rglob("*.ipynb"))
            notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
            if len(notebooks) == 1 or (notebooks and notebooks[0] in candidates):
                found[student] = notebooks[0]
            elif notebooks:
                print(f"warning: {entry.name} has {len(notebooks)} notebooks and none named {chapter}.ipynb; skipped")
    return found


def collect(submissions: Path, chapter: str, grading_dir: Path) -> list[str]:
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


def autograde(chapter: str, submissions: Path, grading_dir: Path | None = None) -> dict[str, float]:
    """Collect, autograde, export grades.csv, generate feedback; return student → score."""
    if chapter not in chapter_ids():
        raise ValueError(f"chapter must be one of {chapter_ids()}; got {chapter!r}")
    grading_dir = (grading_dir or ROOT / "_grading").resolve()
    grading_dir.mkdir(parents=True, exist_ok=True)
    students = collect(submissions, chapter, grading_dir)
    if not students:
        raise ValueError(f"no submissions found in {submissions} for chapter {chapter}")
    # Record the source notebook (locked cells, hidden tests, points) in the gradebook.
    nbgrader("generate_assignment", chapter, "--force",
             f"--CourseDirectory.release_directory={grading_dir / 'release'}", grading_dir=grading_dir)
    for student in students:
        nbgrader("autograde", chapter, "--force", f"--student={student}", grading_dir=grading_dir)
    grades_csv = grading_dir / "grades.csv"
    nbgrader("export", f"--CsvExportPlugin.to={grades_csv}", grading_dir=grading_dir)
    nbgrader("generate_feedback", chapter, "--force", grading_dir=grading_dir)
    return read_scores(grades_csv, chapter)


def read_scores(grades_csv: Path, chapter: str) -> dict[str, float]:
    """student id → raw score for one chapter, from nbgrader's CSV export."""
    with open(grades_csv, newline="") as handle:
        return {row["student_id"]: float(row["raw_score"] or 0) for row in csv.DictReader(handle)
                if row["assignment"] == chapter}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help="chapter id, e.g. 03_attention")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    parser.add_argument("--grading-dir", type=Path, default=None, help="default: _grading/")
    args = parser.parse_args()
    scores = autograde(args.chapter, args.submissions, args.grading_dir)
    width = max(len(s) for s in scores)
    for student, score in sorted(scores.items()):
        print(f"{student:<{width}}  {score:g}")
    grading_dir = args.grading_dir or ROOT / "_grading"
    print(f"grades: {grading_dir / 'grades.csv'}\nfeedback: {grading_dir / 'feedback'}")


if __name__ == "__main__":
    main()
