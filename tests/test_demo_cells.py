"""Demo cells: which submission cells grading skips is decided from the source, never the submission."""

import copy

import nbformat
import pytest

from instructor.demo_cells import DEMO_TAG, DemoCells, is_tagged_demo, names, propose, without_demos
from tests.notebook_tools import chapter_ids, is_solution, is_test, load, nbgrader_meta


def _code(source: str, cell_id: str, tags=(), nbgrader=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cell_id
    if tags:
        cell.metadata["tags"] = list(tags)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def _source_nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _code("import torch", "setup"),
        _code("plt.plot(train())", "figure", tags=[DEMO_TAG]),
        _code("def f(x):\n    return torch.tensor(x) * 2", "f", nbgrader={"grade_id": "f", "solution": True}),
        _code("assert f(1) == 2", "test_f", nbgrader={"grade_id": "test_f", "grade": True, "points": 1}),
    ]
    return nb


def test_demo_cells_are_read_from_the_source_by_id_and_text():
    demos = DemoCells.of(_source_nb())
    assert demos.ids == {"figure"}
    moved = _code("plt.plot(train())\n", "another-id")  # Colab drops ids: the text still matches
    assert demos.skips(moved)
    assert demos.skips(_code("print('edited')", "figure"))  # same id, the student edited it
    assert not demos.skips(_code("x = 1", "setup"))


def test_a_cell_with_nbgrader_metadata_is_never_skipped():
    demos = DemoCells.of(_source_nb())
    test_cell = _code(
        "assert f(1) == 2",
        "figure",
        tags=[DEMO_TAG],  # demo id and tag, still graded
        nbgrader={"grade_id": "test_f", "grade": True, "points": 1},
    )
    assert not demos.skips(test_cell)
    solution = _code("plt.plot(train())", "x", nbgrader={"grade_id": "f", "solution": True})
    assert not demos.skips(solution)


def test_the_submissions_own_tags_do_not_count():
    demos = DemoCells.of(_source_nb())
    assert not demos.skips(_code("print(1)", "mine", tags=[DEMO_TAG]))
    assert not is_tagged_demo(_code("x", "t", tags=[DEMO_TAG], nbgrader={"grade_id": "t", "grade": True}))


def test_names_and_propose_keep_what_graded_cells_need():
    defined, used = names("def g(a):\n    return a + b\nc = g(1)")
    assert {"g", "a", "c"} <= defined and used == {"b"}
    nb = _source_nb()
    nb.cells.insert(1, _code("helper = 3", "helper"))
    nb.cells[-1].source += "\nassert helper == 3"
    assert [nb.cells[i].id for i in propose(nb)] == ["figure"]  # setup (torch) and helper are needed
    nb.cells[-1].source = "assert f(1) == 2"
    assert [nb.cells[i].id for i in propose(nb)] == ["helper", "figure"]


def test_without_demos_drops_exactly_the_demo_cells():
    nb = without_demos(_source_nb())
    assert [c.id for c in nb.cells] == ["setup", "f", "test_f"]


@pytest.mark.parametrize("chapter", chapter_ids())
def test_every_chapter_tags_its_demos_and_graded_code_needs_none(chapter):
    """Tagged demo cells are plain code cells that no graded or solution cell needs (by the names
    they define); the solution running without them is checked by test_mutants and test_autograde."""
    nb = load("solutions", chapter)
    tagged = [i for i, c in enumerate(nb.cells) if DEMO_TAG in c.metadata.get("tags", [])]
    assert tagged, f"{chapter}: no demo cells tagged"
    for i in tagged:
        assert nb.cells[i].cell_type == "code" and not nbgrader_meta(nb.cells[i]), f"{chapter} cell {i}"
    needed = sorted(set(tagged) - set(propose(nb)))
    assert not needed, f"{chapter}: cells {[nb.cells[i].id for i in needed]} are tagged demo but graded code needs them"
    release = load("chapters", chapter)
    assert DemoCells.of(release).ids == DemoCells.of(nb).ids, "release is stale: make release"
    assert not any(is_test(c) or is_solution(c) for c in copy.deepcopy(nb).cells if is_tagged_demo(c))
