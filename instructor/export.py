"""grades.csv: nbgrader's CSV export, rows sorted (reproducible), and reading it back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from nbgrader.plugins import CsvExportPlugin

from .nbgrader_cli import nbgrader


class SortedCsvExport(CsvExportPlugin):
    """nbgrader's CSV export with rows sorted by (assignment, student_id): reproducible files."""

    def export(self, gradebook):
        super().export(gradebook)
        with open(self.to, newline="") as handle:
            rows = list(csv.reader(handle))
        if len(rows) > 1:
            header, body = rows[0], rows[1:]
            body.sort(key=lambda r: (r[header.index("assignment")], r[header.index("student_id")]))
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows([header] + body)
            with open(self.to, "w", newline="") as handle:
                handle.write(text.getvalue())


def export(grading_dir: Path) -> Path:
    """grades.csv for every chapter and student in the gradebook, rows sorted (reproducible)."""
    grades_csv = grading_dir / "grades.csv"
    nbgrader("export", f"--CsvExportPlugin.to={grades_csv}", grading_dir=grading_dir)
    return grades_csv


def read_scores(grades_csv: Path, chapter: str) -> dict[str, float]:
    """student id → raw score for one chapter, from nbgrader's CSV export."""
    with open(grades_csv, newline="") as handle:
        return {
            row["student_id"]: float(row["raw_score"] or 0)
            for row in csv.DictReader(handle)
            if row["assignment"] == chapter
        }
