"""Collecting submissions into the grading folder's submitted/STUDENT/CHAPTER/CHAPTER.ipynb.

- :func:`collect`: one chapter's submissions from a folder or .zip, in either layout the
  instructor.autograde docstring lists (one entry per student, or an LMS export);
- :class:`CourseCollector`: ``nbgrader zip_collect``'s file-name collector, with LMS presets,
  Blackboard timestamps and the "Copy of …" / "-1" suffixes that Colab and Canvas add;
- :func:`student_id`: the one sanitiser of student ids, whichever way they were found.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Unicode

from .nbgrader_cli import chapter_ids, nbgrader

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
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.@-]+")


def student_id(text: str) -> str:
    """A student id safe as a folder name: runs of other characters become one '-', no leading
    dots ('..' is not a folder of its own); '' when nothing is left (the file is skipped)."""
    return _NOT_IN_ID.sub("-", text).strip("-").lstrip(".-")


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
        info["student_id"] = student_id(info["student_id"])
        if not info["student_id"]:
            self.log.warning("no usable student id in %s", submitted_file)
            return None
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


# --------------------------------------------------------------------------- bringing submissions in


def find_submissions(folder: Path, chapter: str) -> dict[str, Path]:
    """Map student id → submitted notebook for the per-student layouts the module docstring lists."""
    found: dict[str, Path] = {}
    others = set(chapter_ids()) - {chapter}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        student = student_id(entry.stem if entry.is_file() else entry.name)
        if not student:
            print(f"warning: {entry.name}: no usable student id; skipped")
            continue
        if entry.is_file() and entry.suffix == ".ipynb" and entry.stem not in others:
            found[student] = entry
        elif entry.is_dir():
            candidates = [entry / f"{chapter}.ipynb", entry / chapter / f"{chapter}.ipynb"]
            notebooks = [p for p in candidates if p.exists()] or sorted(
                p for p in entry.rglob("*.ipynb") if p.stem not in others and p.parent.name not in others
            )
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
    before = submitted(grading_dir, chapter)
    result = nbgrader(
        "zip_collect",
        chapter,
        "--force",
        f"--CourseCollector.named_regexp={lms_regexp(regexp)}",
        grading_dir=grading_dir,
    )
    for line in (result.stdout + result.stderr).splitlines():  # files that were not collected, and why
        if re.search(r"Skipped|no match for|Invalid submission", line):
            print(f"warning: {chapter}: {line.split('] ', 1)[-1]}")
    return sorted(submitted(grading_dir, chapter) - before) or sorted(submitted(grading_dir, chapter))


def submitted(grading_dir: Path, chapter: str) -> set[str]:
    """Students with a collected notebook of ``chapter``."""
    return {p.parent.parent.name for p in (grading_dir / "submitted").glob(f"*/{chapter}/*.ipynb")}


def collect(submissions: Path, chapter: str, grading_dir: Path, regexp: str | None = None) -> list[str]:
    """Bring one chapter's submissions into submitted/; return the students collected."""
    regexp = regexp or detect_preset(submissions)
    if regexp:
        return collect_lms(submissions, chapter, grading_dir, regexp)
    return collect_folders(submissions, chapter, grading_dir)
