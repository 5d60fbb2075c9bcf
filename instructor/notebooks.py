"""Keep notebooks reviewable: no outputs, stable ids and metadata (used by `make release`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def load(kind: str, chapter: str) -> nbformat.NotebookNode:
    """kind is 'solutions' (nbgrader source) or 'chapters' (release)."""
    return nbformat.read(ROOT / kind / chapter / f"{chapter}.ipynb", as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell) -> bool:
    """A graded test cell (autograder tests), not a graded solution or a task."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def defined_functions(source: str) -> list[str]:
    """Names of the top-level functions a cell defines."""
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]


def defined_names(source: str) -> list[str]:
    """Names of the top-level functions and classes a cell defines."""
    return [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs and volatile metadata; give cells ids that depend only on their position."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.id = grade_id or f"cell-{index:03d}"
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in ("nbgrader", "tags", "mystnb")}
        )
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "attachments" in cell and not cell.attachments:
            del cell["attachments"]
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def normalize_file(path: Path) -> bool:
    """Normalise one notebook in place; return True if it changed."""
    before = path.read_text(encoding="utf-8")
    nb = normalize(nbformat.reads(before, as_version=4))
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def main(folders: list[str]) -> None:
    for folder in folders:
        for path in sorted(Path(folder).glob("*/*.ipynb")):
            if ".ipynb_checkpoints" not in path.parts and normalize_file(path):
                print(f"normalised {path}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["solutions", "chapters"])
