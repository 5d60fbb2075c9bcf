"""nbgrader configuration for the course (read by every `nbgrader` command run from this folder).

solutions/ is the source, chapters/ the release; everything grading produces (submissions,
autograded notebooks, feedback, gradebook.db, grades.csv, the grading kernelspec) lives under the
git-ignored _grading/ (or COURSE_GRADING_DIR). Environment knobs, all optional:

COURSE_GRADING_DIR      grading folder                      COURSE_DB_URL   gradebook (sqlite by default)
COURSE_CELL_TIMEOUT     seconds per cell (180)              COURSE_KERNEL_MEMORY  kernel address space (8G)
COURSE_SUBMISSION_REGEX zip_collect file-name regexp or LMS preset (attempt, canvas, moodle)
COURSE_GRADING_UNSANDBOXED=1  grade without bubblewrap (student code runs with your rights)
"""
import atexit
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
GRADING = os.path.abspath(os.environ.get("COURSE_GRADING_DIR", os.path.join(ROOT, "_grading")))
sys.path.insert(0, ROOT)
os.makedirs(GRADING, exist_ok=True)

from instructor.collect import CourseCollector  # noqa: E402
from instructor.export import SortedCsvExport  # noqa: E402
from instructor.plugins import (  # noqa: E402
    GradingExecute, HideHiddenTests, LimitOutputSize, RepairMetadata, RestoreMissingCells, StripExecutionTags,
)
from instructor.sandbox import KERNEL_NAME, install_kernelspec  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades, IgnorePattern,
    OverwriteKernelspec, SaveAutoGrades,
)

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = ROOT  # nbgrader wants an absolute path
c.CourseDirectory.course_id = "transformers-built-by-hand"  # '' (the default) breaks PostgreSQL's foreign keys
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
c.CourseDirectory.submitted_directory = os.path.join(GRADING, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(GRADING, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(GRADING, "feedback")
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", f"sqlite:///{os.path.join(GRADING, 'gradebook.db')}")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

# Release: the website tags exercise cells `skip-execution`; nbgrader validates the release by
# executing nothing, so keep the defaults there. Never skip a cell when grading (see below).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograde, sanitising: repair metadata (Colab, tampering), restore locked and missing cells,
# strip execution-control tags (they are outside nbgrader's checksum).
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, RepairMetadata, OverwriteKernelspec, RestoreMissingCells, StripExecutionTags,
    CheckCellMetadata,
]
c.RestoreMissingCells.add_missing_cells = True  # a deleted test cell comes back (and runs)
c.RestoreMissingCells.source_directory = os.path.join(ROOT, "solutions")

# Autograde, running: the sandboxed grading kernel (instructor/sandbox.py), a per-cell timeout
# (the 30 s default is too short for torch) after which the cell is interrupted and grading goes on.
TIMEOUT = int(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
c.Autograde.autograde_preprocessors = [
    GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutputSize, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
c.GradingExecute.source_directory = os.path.join(ROOT, "solutions")  # its 'demo' cells are not run
c.Execute.kernel_name = KERNEL_NAME
c.Execute.timeout = TIMEOUT
c.Execute.interrupt_on_timeout = True
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError", "evalue": f"the cell ran longer than {TIMEOUT} s and was stopped",
    "traceback": [f"CellTimeoutError: the cell ran longer than {TIMEOUT} s and was stopped"],
}
c.Execute.skip_cells_with_tag = "course-never-used-tag"  # nbclient would skip `skip-execution`
c.Execute.startup_timeout = 120
c.Execute.iopub_timeout = 15  # after an interrupt; only a kernel that ignores it waits this long
# Once the notebook has run, the kernel has nothing left to give: wait 0.5 s for it to exit (it
# normally takes 0.1-0.3 s), then terminate it. ipykernel sometimes hangs in its own shut-down
# (about one submission in four on this machine, seen as 2.5 s more with the default 5 s wait).
c.KernelManager.shutdown_wait_time = 1.0
c.LimitOutputSize.max_lines = 200
c.LimitOutputSize.max_traceback = 40

# The kernelspec lives in the grading folder; the kernel talks over IPC sockets (the sandbox has no
# network), in a short private folder (Unix socket paths are limited to ~100 characters).
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (str(install_kernelspec(GRADING)), os.environ.get("JUPYTER_PATH", "")) if p)
_IPC_DIR = tempfile.mkdtemp(prefix="course-ipc-")
atexit.register(shutil.rmtree, _IPC_DIR, True)
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(_IPC_DIR, "kernel")

# Feedback: never show hidden tests, neither their code nor tracebacks or outputs that quote them.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# Collecting an LMS export: `nbgrader zip_collect` with a file-name regexp (or preset name).
c.ZipCollectApp.collector_plugin = CourseCollector
c.ZipCollectApp.collect_directory_structure = os.path.join(GRADING, "downloaded", "{assignment_id}", "{collect_step}")
c.ZipCollectApp.strict = True  # only notebooks named like the chapter's (after CourseCollector's fixes)
c.CourseCollector.named_regexp = os.environ.get("COURSE_SUBMISSION_REGEX", "attempt")
c.ExportApp.plugin_class = SortedCsvExport

# Recording notebooks already graded on Dask workers (instructor/workers.py): the coordinator runs
# `nbgrader autograde` on them with no sanitising and no kernel, only saving grades and penalties.
if os.environ.get("COURSE_GRADING_RECORD"):
    c.CourseDirectory.submitted_directory = os.environ["COURSE_GRADING_RECORD"]
    c.Autograde.sanitize_preprocessors = []
    c.Autograde.autograde_preprocessors = [SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
