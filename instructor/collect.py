"""Collecting submissions and exporting grades: nbgrader plugins for LMS exports.

Collecting and exporting:

- :class:`CourseCollector`: ``nbgrader zip_collect``'s file-name collector, with LMS presets,
  Blackboard timestamps and the "Copy of …" / "-1" suffixes that Colab and Canvas add.
- :class:`SortedCsvExport`: grades.csv rows sorted by chapter and student, so that two runs (or
  sqlite and PostgreSQL) export byte-identical files.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from nbgrader.plugins import CsvExportPlugin
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Unicode

LMS_PRESETS = {
    # Blackboard, and nbgrader's documented example: ANYTHING_studentid_attempt_2024-03-01-10-22-33_NAME.ipynb
    "attempt": r"(?:.*_)?(?P<student_id>[^_/]+)_attempt_(?P<timestamp>[0-9][0-9-]+[0-9])_(?P<file_id>[^/]+)",
    # Canvas: lastnamefirstname_[late_]USERID_SUBMISSIONID_NAME.ipynb
    "canvas": r"(?P<last_name>[^_/]+)_(?:late_)?(?P<student_id>\d+)_(?P<submission_id>\d+)_(?P<file_id>[^/]+)",
    # Moodle: Full Name_PARTICIPANTID_assignsubmission_file_[/]NAME.ipynb
    "moodle": r"(?P<full_name>[^_/]+)_(?P<student_id>\d+)_assignsubmission_file_/?(?P<file_id>[^/]+)",
}
_COPY_SUFFIX = re.compile(r"^(?:Copy of |Copia de |Kopie von )?(.*?)(?:-\d+| ?\(\d+\))?$")
_DASHED_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def lms_regexp(name_or_regexp: str) -> str:
    """A preset's regular expression, or the argument itself if it is not a preset's name."""
    return LMS_PRESETS.get(name_or_regexp, name_or_regexp)


class CourseCollector(FileNameCollectorPlugin):
    """Match ``named_regexp`` (or an LMS preset) against the file name, or 'folder/file name'."""

    release_directory = Unicode("", help="Folder of the released notebooks, for file-name fixes").tag(config=True)

    def collect(self, submitted_file: str):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        regexp = lms_regexp(self.named_regexp)
        parts = Path(submitted_file).parts
        for tail in ("/".join(parts[-1:]), "/".join(parts[-2:])):
            match = re.fullmatch(regexp, tail)
            if match:
                break
        else:
            self.log.warning("no match for %r in %s", regexp, submitted_file)
            return None
        info = {k: v for k, v in match.groupdict().items() if v is not None}
        if "student_id" not in info or "file_id" not in info:
            self.fail("the submission regexp must have (?P<student_id>...) and (?P<file_id>...) groups")
        info["student_id"] = re.sub(r"[^A-Za-z0-9_.@-]+", "-", info["student_id"]).strip("-")
        info["file_id"] = self._notebook_name(info["file_id"])
        stamp = _DASHED_TIME.match(info.get("timestamp", ""))
        if stamp:
            info["timestamp"] = f"{stamp[1]} {stamp[2]}:{stamp[3]}:{stamp[4]}"
        return info

    def fail(self, message: str):
        raise ValueError(message)

    def _notebook_name(self, file_id: str) -> str:
        """'Copy of 03_attention (1).ipynb' → '03_attention.ipynb' when that is a released notebook."""
        released = self._released()
        stem, ext = os.path.splitext(file_id)
        cleaned = _COPY_SUFFIX.match(stem)[1] + ext
        if file_id not in released and cleaned in released:
            return cleaned
        return file_id

    def _released(self) -> set[str]:
        app = self.parent
        try:
            folder = Path(app.coursedir.format_path(app.coursedir.release_directory, ".", app.coursedir.assignment_id))
        except AttributeError:
            folder = Path(self.release_directory)
        return {p.name for p in folder.glob("*.ipynb")}


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
