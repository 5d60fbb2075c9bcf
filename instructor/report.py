"""The class report: which exercises a class got right and which common mistakes it made.

Reads the autograded notebooks of each graded chapter (the points of every graded cell and the
mistakes the feedback named, tagged ``[mistake CHAPTER:ID]`` by course_lib.diagnosis) and writes

- ``mistakes.csv``: chapter, exercise (grade_id), student, mistake id — one row per named mistake;
- ``report.html``: per chapter, the score distribution of each exercise and the most frequent
  named mistakes of each exercise with their counts (matplotlib figures embedded as PNG).
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402

from course_lib.mistakes import named_in  # noqa: E402

from .notebooks import is_test, nbgrader_meta  # noqa: E402


@dataclass
class Graded:
    """What one chapter's autograded notebooks say, student by student."""

    chapter: str
    points: dict[str, float] = field(default_factory=dict)  # grade_id -> points available
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> grade_id -> points earned
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # (grade_id, student, mistake id)


def _errors(cell) -> str:
    return "\n".join(str(o.get("evalue", "")) for o in cell.get("outputs", []) if o.get("output_type") == "error")


def read_chapter(grading_dir: Path, chapter: str) -> Graded:
    """Points per graded cell (all or nothing: a cell that raised earns 0) and named mistakes."""
    graded = Graded(chapter)
    for path in sorted((grading_dir / "autograded").glob(f"*/{chapter}/{chapter}.ipynb")):
        student = path.parent.parent.name
        nb = nbformat.read(path, as_version=4)
        earned = graded.scores.setdefault(student, {})
        for cell in nb.cells:
            if not is_test(cell):
                continue
            grade_id, points = nbgrader_meta(cell)["grade_id"], float(nbgrader_meta(cell).get("points", 0))
            graded.points.setdefault(grade_id, points)
            errors = _errors(cell)
            earned[grade_id] = 0.0 if errors else points
            for key in named_in(errors):
                tag_chapter, mistake = key.split(":", 1)
                graded.mistakes.append((grade_id, student, mistake if tag_chapter == chapter else key))
    return graded


def write_mistakes_csv(grading_dir: Path, chapters: list[Graded]) -> Path:
    """mistakes.csv, rows sorted so that grading twice gives the same file."""
    target = grading_dir / "mistakes.csv"
    rows = sorted(
        (g.chapter, grade_id, student, mistake) for g in chapters for grade_id, student, mistake in g.mistakes
    )
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["chapter", "exercise", "student", "mistake"])
        writer.writerows(rows)
    return target


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def score_figure(graded: Graded) -> str:
    """Per exercise: how many students earned full, partial or no points (stacked bars)."""
    exercises = list(graded.points)
    full = [sum(s.get(e, 0) >= graded.points[e] for s in graded.scores.values()) for e in exercises]
    zero = [sum(s.get(e, 0) == 0 for s in graded.scores.values()) for e in exercises]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(exercises)))
    ax.barh(exercises, full, color="#2a9d8f", label="full points")
    ax.barh(exercises, zero, left=full, color="#e76f51", label="0 points")
    ax.invert_yaxis()
    ax.set_xlabel(f"students (of {len(graded.scores)})")
    ax.set_title(f"{graded.chapter}: score per exercise")
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def mistake_figure(graded: Graded, top: int = 5) -> str | None:
    """Per exercise: the most frequent named mistakes and their counts (None if none was named)."""
    by_exercise = {e: Counter(m for g, _, m in graded.mistakes if g == e) for e in graded.points}
    by_exercise = {e: c.most_common(top) for e, c in by_exercise.items() if c}
    if not by_exercise:
        return None
    fig, axes = plt.subplots(
        len(by_exercise), 1, figsize=(7, sum(0.6 + 0.35 * len(c) for c in by_exercise.values())), squeeze=False
    )
    for ax, (exercise, counts) in zip(axes[:, 0], by_exercise.items()):
        names, values = zip(*counts)
        ax.barh(names, values, color="#457b9d")
        ax.invert_yaxis()
        ax.set_title(exercise, fontsize="medium", loc="left")
        ax.set_xlabel("students")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"{graded.chapter}: most frequent named mistakes")
    fig.tight_layout()
    return _png(fig)


def _section(graded: Graded) -> str:
    from course_lib import diagnosis

    parts = [
        f"<h2>{html.escape(graded.chapter)}</h2>",
        f'<img alt="scores of {graded.chapter}" src="data:image/png;base64,{score_figure(graded)}">',
    ]
    picture = mistake_figure(graded)
    if picture:
        parts.append(f'<img alt="named mistakes of {graded.chapter}" src="data:image/png;base64,{picture}">')
    counts = Counter((g, m) for g, _, m in graded.mistakes)
    rows = []
    for (exercise, mistake), count in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
        try:
            explanation = diagnosis.by_key(mistake if ":" in mistake else f"{graded.chapter}:{mistake}").explanation
        except KeyError:
            explanation = ""
        rows.append(
            f"<tr><td>{html.escape(exercise)}</td><td>{html.escape(mistake)}</td><td>{count}</td>"
            f"<td>{html.escape(explanation)}</td></tr>"
        )
    if rows:
        parts.append(
            "<table><tr><th>exercise</th><th>mistake</th><th>students</th><th>what it is</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    else:
        parts.append("<p>No common mistake was named in this chapter.</p>")
    return "\n".join(parts)


def write_report(grading_dir: Path, chapters: list[Graded]) -> Path:
    """report.html: one section per chapter."""
    target = grading_dir / "report.html"
    body = "\n".join(_section(g) for g in chapters if g.scores)
    target.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class report</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:auto} img{max-width:100%;display:block;margin:1em 0}"
        "table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
        f"</style></head><body><h1>Class report</h1>{body}</body></html>\n",
        encoding="utf-8",
    )
    return target


def write_all(grading_dir: Path, chapters: list[str]) -> list[Graded]:
    """mistakes.csv and report.html for the chapters graded in ``grading_dir``."""
    graded = [read_chapter(grading_dir, chapter) for chapter in chapters]
    write_mistakes_csv(grading_dir, graded)
    write_report(grading_dir, graded)
    return graded
