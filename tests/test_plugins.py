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


def test_feedback_locates_a_chained_error_by_the_test_cells_own_frame():
    """check_meta_device re-raises the student's error as an AssertionError: the first exception of
    the chain starts in the student's cell (line 2 here, above the hidden region's line 3); the test
    cell's frame is the first of the last exception."""
    chained = [
        "RuntimeError                              Traceback (most recent call last)",
        "File grading.py:229, in check_meta_device(fn, *args)",
        "Cell In[3], line 2, in f(x)\n----> 2     return x + torch.zeros(3)",
        "RuntimeError: Tensor on device cpu is not on the expected device meta!",
        "\nDuring handling of the above exception, another exception occurred:\n",
        "AssertionError                            Traceback (most recent call last)",
        "Cell In[4], line 4\n----> 4 secret_check(f)",
        "AssertionError: f failed when its inputs were on another device",
    ]
    source = "assert f(1) == 1\nprint('visible')\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS"
    cell = _test_cell(source)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f failed", traceback=chained)]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].traceback[0] == "AssertionError: f failed (in the hidden tests)"
    visible = [line.replace("Cell In[4], line 4", "Cell In[4], line 1") for line in chained]
    cell = _test_cell(source)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f failed", traceback=visible)]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].traceback[0] == "AssertionError: f failed (in the visible tests)"
