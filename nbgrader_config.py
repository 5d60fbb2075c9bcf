"""nbgrader configuration for the course (read by every `nbgrader` command run from this folder).

solutions/ is the source, chapters/ the release; everything grading produces (submissions,
autograded notebooks, feedback, gradebook.db, grades.csv) lives under the git-ignored _grading/.
"""
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
GRADING = os.environ.get("COURSE_GRADING_DIR", os.path.join(ROOT, "_grading"))
sys.path.insert(0, ROOT)
os.makedirs(GRADING, exist_ok=True)

from instructor.plugins import HideHiddenTests, StripExecutionTags  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades, OverwriteCells, OverwriteKernelspec,
)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = ROOT  # nbgrader wants an absolute path
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

# Autograde: the 30 s default per cell is too short for torch; interrupt runaway cells and go on.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
c.Execute.interrupt_on_timeout = True
c.Execute.skip_cells_with_tag = "course-never-used-tag"  # nbclient would skip `skip-execution`
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, StripExecutionTags, CheckCellMetadata,
]
c.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back (and runs)
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40

# Feedback: never show hidden tests, neither their code nor tracebacks that quote them.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
