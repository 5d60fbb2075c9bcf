"""Notebook code fits the website's code column: every code line of a solution notebook (which
`make release` turns into the student notebook the site shows) is at most 88 characters, ruff's
line length. As in ruff, a line whose excess is an unbreakable URL is allowed (the setup cell's
`%pip install "course_lib @ git+https://…"`).

Every chapter complies (since 2026-12-05) and must stay so; a new chapter is added to
CHAPTERS_WITHIN_LIMIT (test_every_chapter_is_listed_once fails until it is).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.notebook_tools import chapter_ids, load

LIMIT = 88
URL = re.compile(r"\S*https?://\S+$")

CHAPTERS_WITHIN_LIMIT: list[str] = [
    "01_rnn_limits",
    "02_embeddings",
    "03_attention",
    "04_multi_head_attention",
    "05_positional_encoding",
    "06_transformer",
    "07_vision_transformer",
    "08_swin_transformer",
    "09_clip",
    "10_mae",
]


def long_code_lines(nb: nbformat.NotebookNode, limit: int = LIMIT) -> list[tuple[int, str]]:
    """(cell index, line) for every code line longer than `limit` characters, except a line whose
    overflow is one unbreakable URL that starts within the limit."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if len(line) <= limit:
                continue
            url = URL.search(line)
            if url and url.start() < limit:
                continue
            found.append((index, line))
    return found


def _notebook(*sources: str, kind: str = "code") -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return nbformat.v4.new_notebook(cells=[make(source) for source in sources])


def test_long_code_lines_finds_lines_over_the_limit_and_nothing_else():
    ok, long = "x = 1  # " + "a" * 79, "x = 1  # " + "a" * 80  # 88 and 89 characters
    nb = _notebook("import torch\n" + ok, "y = 2\n" + long + "\nz = 3")
    assert long_code_lines(nb) == [(1, long)]
    assert long_code_lines(_notebook(long, kind="markdown")) == [], "prose wraps on the page; only code counts"


def test_long_code_lines_allows_an_unbreakable_url_only():
    pip = '    %pip install --quiet "course_lib @ git+https://github.com/built-by-hand/transformers-course"'
    assert len(pip) > LIMIT and long_code_lines(_notebook(pip)) == []
    after = "see('https://example.org/a/very/long/address/that/goes/on/and/on', then_this_keyword_argument=1)"
    assert len(after) > LIMIT and long_code_lines(_notebook(after)) == [(0, after)], "code after the URL counts"


def test_every_chapter_is_listed_once():
    assert sorted(CHAPTERS_WITHIN_LIMIT) == sorted(chapter_ids())


@pytest.mark.parametrize("chapter", CHAPTERS_WITHIN_LIMIT)
def test_code_lines_fit_the_website(chapter):
    long = long_code_lines(load("solutions", chapter))
    assert not long, (
        f"{chapter}: {len(long)} code lines longer than {LIMIT} characters, first in cell {long[0][0]}: {long[0][1]!r}"
    )
