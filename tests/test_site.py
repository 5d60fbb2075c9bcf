"""The website (slow): `jupyter-book build -W` passes and no page leaks solutions or hidden tests."""
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebook_tools import ROOT, chapter_ids, graded_cells, hidden_lines, is_solution, load

pytestmark = pytest.mark.slow

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"jupyter-book build -W failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return out / "_build" / "html"


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("chapter", chapter_ids())
def test_chapter_page_has_no_solution_or_hidden_test(site, chapter):
    page = _text(site / "chapters" / chapter / f"{chapter}.html")
    source = load("solutions", chapter)
    solution_lines = [line.strip() for cell in source.cells if is_solution(cell)
                      for block in SOLUTION.findall(cell.source) for line in block.splitlines()]
    hidden = [line for cell in graded_cells(source) for line in hidden_lines(cell.source)]
    release_text = "\n".join(c.source for c in load("chapters", chapter).cells)
    secret = [line for line in solution_lines + hidden if len(line) > 20 and line not in release_text]
    assert len(secret) >= 5
    leaked = [line for line in secret if line in page]
    assert not leaked, f"the site shows solution or hidden-test code: {leaked[:3]}"
    assert "# YOUR CODE HERE" in page, "exercise starter code is shown"


@pytest.mark.parametrize("chapter", chapter_ids())
def test_chapter_page_shows_executed_demos(site, chapter):
    raw = (site / "chapters" / chapter / f"{chapter}.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', raw)
    assert images, "demo figures are executed and embedded"
    for src in images:
        assert (site / "chapters" / chapter / src).resolve().exists(), f"missing image {src}"
    assert "NotImplementedError" not in _text(site / "chapters" / chapter / f"{chapter}.html").replace(
        "raise NotImplementedError()", ""), "no exercise stub was executed on the site"
