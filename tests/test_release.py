"""chapters/ is exactly what `make release` generates from solutions/."""

import nbformat
import pytest

from instructor.notebooks import normalize
from instructor.release import release
from tests.notebook_tools import ROOT, chapter_ids


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(out=out, grading_dir=tmp_path_factory.mktemp("grading"))
    return out


@pytest.mark.slow  # the fixture runs nbgrader on all ten chapters (one subprocess each)
@pytest.mark.parametrize("chapter", chapter_ids())
def test_committed_release_is_up_to_date(fresh_release, chapter):
    committed = (ROOT / "chapters" / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8")
    regenerated = (fresh_release / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8")
    assert committed == regenerated, f"chapters/{chapter} is stale: run `make release` and commit chapters/"


@pytest.mark.slow
def test_release_folder_has_nothing_else(fresh_release):
    released = sorted(p.relative_to(fresh_release).as_posix() for p in fresh_release.rglob("*") if p.is_file())
    assert released == [f"{c}/{c}.ipynb" for c in chapter_ids()]


def test_normalize_strips_outputs_and_volatile_metadata():
    nb = nbformat.v4.new_notebook(metadata={"jupytext": {"x": 1}, "widgets": {}})
    cell = nbformat.v4.new_code_cell(
        "1 + 1",
        execution_count=3,
        outputs=[nbformat.v4.new_output("stream", text="2")],
        metadata={"collapsed": True, "tags": ["t"]},
    )
    nb.cells = [nbformat.v4.new_markdown_cell("# Hi"), cell]
    out = normalize(nb)
    assert set(out.metadata) == {"kernelspec", "language_info"}
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert out.cells[1].metadata == {"tags": ["t"]} and [c.id for c in out.cells] == ["cell-000", "cell-001"]
