"""nbgrader preprocessors that make grading safe by construction.

- :class:`StripExecutionTags` runs while a submission is sanitised: a student could add
  ``skip-execution`` (or nbval's markers, ``raises-exception``) to a locked test cell, and tags
  are outside nbgrader's cell checksum. All execution-control tags are removed.
- :class:`HideHiddenTests` runs while feedback is generated: nbgrader's feedback shows the
  autograded notebook, hidden tests and their tracebacks included (nbgrader #917, #1363).
  It removes the hidden region of every test cell and replaces tracebacks with one short line.
"""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, Unicode

EXECUTION_TAGS = frozenset({
    "skip-execution", "raises-exception", "remove-cell", "nbval-skip", "nbval-ignore-output",
    "nbval-raises-exception", "nbval-check-output", "nbval-remove-output", "skip", "nbgrader-skip",
})
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"


class StripExecutionTags(Preprocessor):
    """Remove execution-control tags (and nbval/Jupyter Book markers) from every cell."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        tags = cell.get("metadata", {}).get("tags")
        if tags:
            cell.metadata["tags"] = [t for t in tags if t.lower() not in EXECUTION_TAGS]
        return cell, resources


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


class HideHiddenTests(Preprocessor):
    """Feedback without hidden tests: drop their source and shorten every traceback."""

    enabled = Bool(True).tag(config=True)
    max_message = Integer(400, help="Longest error message kept in feedback").tag(config=True)
    note = Unicode("(traceback hidden; the message above says what was checked)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        cell.source, removed = strip_hidden_region(cell.source)
        is_test = cell.get("metadata", {}).get("nbgrader", {}).get("grade", False) and not \
            cell.metadata.get("nbgrader", {}).get("solution", False)
        if removed or is_test:
            cell.outputs = [self._shorten(out) for out in cell.get("outputs", [])]
        return cell, resources

    def _shorten(self, output):
        if output.get("output_type") != "error":
            return output
        message = str(output.get("evalue", ""))
        if len(message) > self.max_message:
            message = message[: self.max_message] + " …"
        output["evalue"] = message
        output["traceback"] = [f"{output.get('ename', 'Error')}: {message}", self.note]
        return output
