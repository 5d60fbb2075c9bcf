"""nbgrader plugins that make grading safe by construction.

Sanitising a submission (before anything runs):

- :class:`RepairMetadata`: a cell's nbgrader metadata is replaced by the gradebook's for its
  grade_id, or removed when the grade_id is unknown or broken. Colab, a careless edit or a
  malicious one can leave metadata nbgrader would reject with an error that stops the whole
  batch (a missing ``schema_version`` does).
- :class:`RestoreMissingCells`: nbgrader's ``OverwriteCells`` (locked cells get the source's
  code back), and graded cells missing from the submission come back after the nearest cell that
  precedes them in the source, or at the end (nbgrader's own placement fails with a KeyError
  when that neighbour lost its metadata too).
- :class:`StripExecutionTags`: a student could add ``skip-execution`` (or nbval's markers,
  ``raises-exception``) to a locked test cell, and tags are outside nbgrader's cell checksum.

Running it:

- :class:`GradingExecute`: the cells the instructor's source tags ``demo`` are not run (decided
  from the source by cell id or source text, never from the submission's tags; a cell with
  nbgrader metadata always runs: see instructor/demo_cells.py).
  A kernel that dies (memory, ``os._exit``) or ignores the interrupt
  after a timeout fails the cell it was running and every later cell, instead of the whole
  submission; a cell's output is capped while it arrives, so printing gigabytes cannot exhaust
  the grader's memory.
- :class:`LimitOutputSize`: nbgrader's ``LimitOutput`` (lines), plus a cap on characters.

Feedback:

- :class:`HideHiddenTests`: nbgrader's feedback shows the autograded notebook, hidden tests and
  tracebacks included (nbgrader #917, #1363). The hidden region of every test cell is removed,
  test-cell tracebacks become one line naming what was checked, and any output in any cell that
  quotes a hidden-test line (a student can print ``In[-1]``) is replaced by a note.

Collecting and exporting live in :mod:`instructor.collect`.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, LimitOutput, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Integer, Unicode

from .demo_cells import DemoCells

EXECUTION_TAGS = frozenset(
    {
        "skip-execution",
        "raises-exception",
        "remove-cell",
        "nbval-skip",
        "nbval-ignore-output",
        "nbval-raises-exception",
        "nbval-check-output",
        "nbval-remove-output",
        "skip",
        "nbgrader-skip",
    }
)
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"
REDACTED_NOTE = "[output removed from feedback: it quoted the hidden tests]"
SCHEMA_VERSION = 3
DEMO_NOTE = "(a demo cell: not run while grading)\n"


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


# --------------------------------------------------------------------------- sanitising


class StripExecutionTags(Preprocessor):
    """Remove execution-control tags (and nbval/Jupyter Book markers) from every cell."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        tags = cell.get("metadata", {}).get("tags")
        if tags:
            cell.metadata["tags"] = [t for t in tags if str(t).lower() not in EXECUTION_TAGS]
        return cell, resources


def _canonical_metadata(notebook) -> dict[str, dict]:
    """grade_id → the nbgrader metadata the source notebook gave that cell (from the gradebook)."""
    graded = {c.name: c for c in notebook.grade_cells}
    solutions = {c.name for c in notebook.solution_cells}
    tasks = {c.name: c for c in notebook.task_cells}
    canonical = {}
    for source in notebook.source_cells:
        meta = {
            "grade": source.name in graded,
            "grade_id": source.name,
            "locked": bool(source.locked),
            "schema_version": SCHEMA_VERSION,
            "solution": source.name in solutions,
            "task": source.name in tasks,
        }
        if source.name in graded or source.name in tasks:
            meta["points"] = float((graded.get(source.name) or tasks[source.name]).max_score)
        canonical[source.name] = {"meta": meta, "cell_type": source.cell_type}
    return canonical


class RepairMetadata(NbGraderPreprocessor):
    """Give every cell either the gradebook's nbgrader metadata for its grade_id or none at all."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            self.canonical = _canonical_metadata(notebook)
        self.seen: set[str] = set()
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            return cell, resources
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        known = self.canonical.get(grade_id) if isinstance(grade_id, str) else None
        if known is None or grade_id in self.seen:
            self.log.warning("cell %d: nbgrader metadata %r removed (unknown or repeated grade_id)", index, grade_id)
            del cell.metadata["nbgrader"]
            for key in ("deletable", "editable"):
                cell.metadata.pop(key, None)
            return cell, resources
        self.seen.add(grade_id)
        if dict(meta, checksum=None) != dict(known["meta"], checksum=None):
            self.log.warning("cell %s: nbgrader metadata restored from the gradebook", grade_id)
        checksum = meta.get("checksum")
        cell.metadata["nbgrader"] = NotebookNode(dict(known["meta"]))
        if isinstance(checksum, str):
            cell.metadata["nbgrader"]["checksum"] = checksum
        return cell, resources


class RestoreMissingCells(OverwriteCells):
    """OverwriteCells whose missing graded cells go after their nearest surviving predecessor."""

    source_directory = Unicode("", help="Folder of the nbgrader source notebooks (for cell order)").tag(config=True)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {c.name: c for c in source_nb.source_cells}
        graded = {c.name: c for c in source_nb.grade_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        order = self._source_order(list(source_cells))
        for position, grade_id in enumerate(order):
            if grade_id not in graded or grade_id in self._present(nb):
                continue
            self.log.warning("Missing graded cell %s: added back", grade_id)
            cell = nbformat.from_dict(
                self.missing_cell_transform(
                    source_cells[grade_id], graded[grade_id].max_score, is_solution=grade_id in solutions
                )
            )
            present = self._present(nb)
            before = [present[g] for g in reversed(order[:position]) if g in present]
            nb.cells.insert(before[0] + 1 if before else len(nb.cells), cell)
        return nb, resources

    @staticmethod
    def _present(nb) -> dict[str, int]:
        ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells]
        return {grade_id: i for i, grade_id in enumerate(ids) if grade_id}

    def _source_order(self, names: list[str]) -> list[str]:
        """grade_ids in the order of the source notebook (the gradebook does not keep it)."""
        path = Path(self.source_directory) / self.assignment_id / f"{self.notebook_id}.ipynb"
        if path.exists():
            ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.read(path, as_version=4).cells]
            ordered = [g for g in ids if g in names]
            return ordered + [g for g in names if g not in ordered]
        return names


# --------------------------------------------------------------------------- execution


class GradingExecute(Execute):
    """nbgrader's Execute that skips the source's demo cells and survives a dead or unresponsive
    kernel and floods of output."""

    max_output_chars = Integer(2_000_000, help="Output kept per cell while it runs").tag(config=True)
    source_directory = Unicode(
        "",
        help="Folder of the nbgrader source notebooks: their cells tagged 'demo' are not run (empty: every cell runs)",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._kernel_lost = ""
        self._demos = DemoCells(frozenset(), frozenset())
        info = (resources or {}).get("nbgrader", {})
        if self.source_directory and info.get("assignment") and info.get("notebook"):
            path = Path(self.source_directory) / info["assignment"] / f"{info['notebook']}.ipynb"
            self._demos = DemoCells.of_path(path)
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if self._demos.skips(cell):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=DEMO_NOTE)]
            return cell, self.resources
        runs = cell.cell_type == "code" and cell.source.strip()
        if self._kernel_lost and runs:
            cell.outputs = [_error("KernelLost", f"not run: {self._kernel_lost}")]
            return cell, self.resources
        self._output_chars = 0
        self._output_capped = False
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as err:
            self._kernel_lost = (
                f"the kernel died in cell {index} (memory limit, os._exit or a crash)"
                if isinstance(err, DeadKernelError)
                else f"the kernel stopped answering in cell {index} after a timeout"
            )
            self.log.warning("%s; later cells are not run", self._kernel_lost)
            cell.outputs = list(cell.get("outputs", [])) + [_error("KernelLost", self._kernel_lost)]
            return cell, self.resources

    def output(self, outs, msg, display_id, cell_index):
        if getattr(self, "_output_capped", False):
            return None
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        left = self.max_output_chars - getattr(self, "_output_chars", 0)
        self._output_chars = getattr(self, "_output_chars", 0) + size
        if size <= left:
            return super().output(outs, msg, display_id, cell_index)
        self._output_capped = True
        if msg.get("msg_type") == "stream" and left > 0:  # keep the beginning of what was printed
            super().output(outs, dict(msg, content=dict(content, text=content["text"][:left])), display_id, cell_index)
        outs.append(
            nbformat.v4.new_output("stream", name="stderr", text="\n... output beyond this point was discarded ...\n")
        )
        return None


class LimitOutputSize(LimitOutput):
    """LimitOutput (lines and traceback length) plus a cap on the characters of each output."""

    max_chars = Integer(20_000, help="Characters kept of one output").tag(config=True)

    def _cap(self, text: str) -> str:
        return text if len(text) <= self.max_chars else text[: self.max_chars] + "\n... Output truncated ..."

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = self._cap(output.text)
            elif output.output_type == "error":
                output.evalue = self._cap(str(output.get("evalue", "")))
                output.traceback = [self._cap(line) for line in output.get("traceback", [])]
            elif "data" in output:
                for mime, value in list(output.data.items()):
                    if len(str(value)) > 10 * self.max_chars and not mime.startswith("image/"):
                        output.data[mime] = self._cap(str(value))
                    elif len(str(value)) > 200 * self.max_chars:  # images: 4 MB of base64
                        del output.data[mime]
                        output.data["text/plain"] = f"[{mime} output removed: too large]"
        return cell, resources


# --------------------------------------------------------------------------- feedback


def strip_hidden_region(source: str) -> tuple[str, bool]:
    """Source without the lines between the hidden-test delimiters; flag if any were removed."""
    kept, hidden, removed = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = removed = True
            kept.append(line[: line.index(BEGIN_HIDDEN)] + HIDDEN_NOTE)
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept), removed


def hidden_region(source: str) -> tuple[list[str], int | None]:
    """(lines between the hidden-test delimiters, 1-based line number of BEGIN or None)."""
    lines, inside, begin = [], False, None
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN_HIDDEN in line:
            inside, begin = True, begin or number
        elif END_HIDDEN in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines, begin


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|ipykernel_\d+/\d+\.py)\W*,?\s*line (\d+)")
# Where a chained traceback's last exception begins: only its frames start at the cell that ran.
_CHAINED = re.compile(r"During handling of the above exception|The above exception was the direct cause")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _output_text(output) -> str:
    parts = [str(output.get("text", "")), str(output.get("evalue", ""))]
    parts += [str(line) for line in output.get("traceback", [])]
    parts += [str(v) for k, v in output.get("data", {}).items() if not k.startswith("image/")]
    return _ANSI.sub("", "\n".join(parts))


class HideHiddenTests(Preprocessor):
    """Feedback without hidden tests: drop their source, shorten tracebacks, redact quotes."""

    enabled = Bool(True).tag(config=True)
    max_message = Integer(700, help="Longest error message kept in feedback (a named mistake comes first)").tag(
        config=True
    )
    min_secret = Integer(12, help="Shortest hidden-test line (without spaces) that counts as a quote").tag(config=True)
    note = Unicode("(traceback hidden; the message above says what was checked)").tag(config=True)

    def preprocess(self, nb, resources):
        self.secrets = self._secrets(nb.cells)
        return super().preprocess(nb, resources)

    def _secrets(self, cells) -> set[str]:
        """Hidden-test lines (whitespace removed) that appear nowhere outside a hidden region."""
        hidden, visible = set(), ""
        for cell in cells:
            if cell.cell_type == "code":
                lines, _ = hidden_region(cell.source)
                hidden.update(_squash(line) for line in lines)
                visible += _squash(strip_hidden_region(cell.source)[0])
        return {s for s in hidden if len(s) >= self.min_secret and s not in visible}

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        secrets = getattr(self, "secrets", None)
        if secrets is None:
            secrets = self._secrets([cell])
        _, begin = hidden_region(cell.source)
        cell.source, removed = strip_hidden_region(cell.source)
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        is_test = nbgrader.get("grade", False) and not nbgrader.get("solution", False)
        outputs = []
        for output in cell.get("outputs", []):
            if removed or is_test:
                output = self._shorten(output, begin)
            if self._quotes(output, secrets):
                if output.get("output_type") != "error":
                    output = nbformat.v4.new_output("stream", name="stderr", text=REDACTED_NOTE + "\n")
                else:
                    output = self._shorten(output, begin)
                    if self._quotes(output, secrets):
                        output["evalue"] = REDACTED_NOTE
                        output["traceback"] = [f"{output.get('ename', 'Error')}: {REDACTED_NOTE}"]
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources

    @staticmethod
    def _quotes(output, secrets) -> bool:
        if not secrets:
            return False
        text = _squash(_output_text(output))
        return any(s in text for s in secrets)

    def _shorten(self, output, begin: int | None):
        if output.get("output_type") != "error":
            return output
        message = str(output.get("evalue", ""))
        if len(message) > self.max_message:
            message = message[: self.max_message] + " …"
        where = ""
        traceback = _ANSI.sub("", "\n".join(map(str, output.get("traceback", []))))
        # the last exception's first cell frame is the test cell's; an earlier exception of the chain
        # can start in the student's own cell (an error inside their function), at any line number
        frames = _CELL_FRAME.findall(_CHAINED.split(traceback)[-1])
        if begin is not None and frames:
            where = " (in the hidden tests)" if int(frames[0]) > begin else " (in the visible tests)"
        output["evalue"] = message
        output["traceback"] = [f"{output.get('ename', 'Error')}: {message}{where}", self.note]
        return output
