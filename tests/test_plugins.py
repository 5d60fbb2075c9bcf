"""The nbgrader preprocessors in instructor.plugins, on hand-made notebooks."""

import nbformat

from instructor.plugins import HIDDEN_NOTE, HideHiddenTests, StripExecutionTags, strip_hidden_region

TEST_SOURCE = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS\nprint('done')"


def _test_cell(source=TEST_SOURCE, tags=()):
    return nbformat.v4.new_code_cell(
        source,
        metadata={
            "tags": list(tags),
            "nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1},
        },
    )


def test_strip_execution_tags_removes_only_execution_control():
    cell = _test_cell(tags=["skip-execution", "raises-exception", "nbval-skip", "course-note"])
    cell, _ = StripExecutionTags().preprocess_cell(cell, {}, 0)
    assert cell.metadata["tags"] == ["course-note"]


def test_hidden_region_is_removed_and_marked():
    source, removed = strip_hidden_region(TEST_SOURCE)
    assert removed and "secret_check" not in source and HIDDEN_NOTE in source and "print('done')" in source
    assert strip_hidden_region("x = 1") == ("x = 1", False)


def test_feedback_tracebacks_are_shortened():
    cell = _test_cell()
    cell.outputs = [
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="x" * 1000,
            traceback=["File <cell>, line 3", "secret_check(f)", "AssertionError"],
        )
    ]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    out = cell.outputs[0]
    assert "secret_check" not in cell.source + "".join(out.traceback)
    assert len(out.evalue) <= HideHiddenTests().max_message + 2 and out.traceback[0].startswith("AssertionError: xxx")


def test_feedback_keeps_student_cells_untouched():
    cell = nbformat.v4.new_code_cell(
        "def f(x):\n    return x", metadata={"nbgrader": {"solution": True, "grade": False}}
    )
    cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["line 1", "line 2"])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].traceback == ["line 1", "line 2"]
