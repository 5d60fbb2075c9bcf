"""Every figure in docs/benchmarks.md's measured table appears in its chapter's text: as recorded,
or rounded to fewer decimals (a chapter may quote 78.3% as 78%), never another value."""

import re

import pytest

from tests.notebook_tools import ROOT, load

_ROW = re.compile(r"^\| (\d\d_\w+) \| (.+?) \| ([-\d.,]+)(%?) \|")


def measured_rows() -> list[tuple[str, str, str, str]]:
    """(chapter, figure, number as recorded, '%' or '') from the table of measured figures."""
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    table = text.split("| chapter | figure | measured |", 1)[1].split("\n\n", 1)[0]
    return [m.groups() for m in map(_ROW.match, table.splitlines()) if m]


def spellings(number: str) -> list[str]:
    """The recorded number and its roundings to fewer decimals: '78.3' → ['78.3', '78']; a negative
    number also with the typeset minus sign (U+2212)."""
    decimals = len(number.split(".")[1]) if "." in number else 0
    value = float(number.replace(",", ""))
    forms = [f"{value:.{d}f}" for d in range(decimals, -1, -1)]
    return forms + [form.replace("-", "\u2212") for form in forms if form.startswith("-")]  # typeset minus


def chapter_text(chapter: str) -> str:
    return "\n".join(c.source for c in load("solutions", chapter).cells if c.cell_type == "markdown")


@pytest.mark.parametrize("chapter, figure, number, unit", measured_rows(), ids=lambda v: str(v)[:40])
def test_measured_figure_appears_in_the_chapter_text(chapter, figure, number, unit):
    text = chapter_text(chapter)
    # a percentage is quoted as one, in points, with its standard error ("92.1 ± 3.0%"), or in a
    # markdown table whose header gives the unit; other numbers stand alone
    after = r"(?:\s?±\s?[\d.]+)?\s?(?:%|\\%|points|pts)" if unit else r"(?![\d])"
    table_rows = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("|"))
    found = [
        s
        for s in spellings(number)
        if re.search(rf"(?<![\d.]){re.escape(s)}{after}", text)
        or (unit and re.search(rf"(?<![\d.]){re.escape(s)}(?![\d])", table_rows))
    ]
    assert found, f"{chapter}: '{figure}' was measured as {number}{unit}; the chapter text never quotes it"


def test_the_table_is_read():
    assert len(measured_rows()) >= 30
