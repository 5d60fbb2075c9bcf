"""Batches of submissions: kinds for a chapter, its common mistakes packed into few submissions,
and the folder layout `make autograde` reads (STUDENT/CHAPTER.ipynb)."""

from __future__ import annotations

from pathlib import Path

import nbformat

from .builders import Chapter, Submission
from .kinds import KINDS
from .notebooks import defined_names, is_solution

# --------------------------------------------------------------------------- common mistakes


def mistake_submissions(chapter: str) -> dict[str, tuple[Submission, dict]]:
    """Every registered mistake of the chapter in as few submissions as possible.

    Submission i replaces each exercise function (or class) with its i-th registered mistake, so a
    chapter needs as many submissions as its most-mistaken function has mistakes, not one per
    mistake. Returns student id -> (submission, {replaced name: Mistake}); the expected score is
    left to the caller (tests/test_autograde.py runs the same code in-process to know it).
    """
    from course_lib import mistakes

    ch = Chapter(chapter)
    by_name: dict[str, list] = {}
    for mistake in mistakes.for_chapter(chapter):
        by_name.setdefault(mistake.replaces, []).append(mistake)
    batch = {}
    for i in range(max(map(len, by_name.values()), default=0)):
        chosen = {name: found[i] for name, found in by_name.items() if i < len(found)}
        nb = ch.solved()
        for cell in nb.cells:
            if is_solution(cell):
                for name in defined_names(cell.source):
                    if name in chosen:
                        cell.source += "\n\n" + mistakes.submission_source(chosen[name])
        what = "common mistakes: " + ", ".join(m.id for m in chosen.values())
        batch[f"mistakes-{i + 1}"] = (Submission(nb, float("nan"), what), chosen)
    return batch


# --------------------------------------------------------------------------- batches


def submissions(chapter: str, kinds: list[str] | None = None) -> dict[str, Submission]:
    """student id → Submission for the given kinds (default: all)."""
    ch = Chapter(chapter)
    return {kind: KINDS[kind](ch) for kind in (kinds or KINDS)}


def write(batch: dict[str, Submission], folder: Path, chapter: str) -> Path:
    """One folder per student: folder/STUDENT/CHAPTER.ipynb."""
    for student, sub in batch.items():
        target = folder / student / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(sub.notebook, bytes):
            target.write_bytes(sub.notebook)
        else:
            nbformat.write(sub.notebook, target)
    return folder
