"""Demo cells: what grading skips, decided from the instructor's source notebook.

A code cell tagged ``demo`` in ``solutions/`` only demonstrates (a figure, a training run, an
experiment, "now with your own implementation"): readers and students run it, grading does not.
Which cells of a *submission* are skipped is decided here from the source alone:

- a cell with nbgrader metadata (graded, solution, locked, task) is never skipped;
- any other code cell is skipped when its id is the id of a source demo cell, or when its
  source is, up to surrounding white space, the source of a source demo cell (Colab drops ids).

So a student who tags a failing test cell ``demo``, or gives it a demo cell's id, gains nothing:
the tag is not read from the submission, and the test cell keeps its nbgrader metadata (restored
from the gradebook before this runs).

    python -m instructor.demo_cells propose NN_slug [--write]   # tag the cells graded code never needs
    python -m instructor.demo_cells check NN_slug               # run the solution without its demos
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .notebooks import ROOT, load, nbgrader_meta, normalize_file

DEMO_TAG = "demo"


def _text(source: str) -> str:
    return source.strip()


@dataclass(frozen=True)
class DemoCells:
    """The demo cells of one source notebook, by id and by source text."""

    ids: frozenset[str]
    sources: frozenset[str]

    @classmethod
    def of(cls, source_nb) -> "DemoCells":
        demos = [c for c in source_nb.cells if is_tagged_demo(c)]
        return cls(frozenset(c.get("id", "") for c in demos) - {""}, frozenset(_text(c.source) for c in demos))

    @classmethod
    def of_path(cls, path: Path) -> "DemoCells":
        """The demo cells of the source notebook at ``path`` (none if it does not exist)."""
        if not Path(path).exists():
            return cls(frozenset(), frozenset())
        return cls.of(nbformat.read(path, as_version=4))

    def skips(self, cell) -> bool:
        """True when grading must not run this submission cell."""
        if cell.get("cell_type") != "code" or nbgrader_meta(cell):
            return False
        return cell.get("id") in self.ids or _text(cell.get("source", "")) in self.sources


def is_tagged_demo(cell) -> bool:
    """A source cell the author marked as a demo (never one with nbgrader metadata)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.get("cell_type") == "code" and DEMO_TAG in tags and not nbgrader_meta(cell)


# --------------------------------------------------------------------------- proposing tags


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def names(source: str) -> tuple[set[str], set[str]]:
    """(defined, used) names of a cell, over-approximated (any level, any context)."""
    tree = ast.parse(_python(source))
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
    return defined, used - defined  # a name the cell sets itself is, by assumption, set before use


def propose(nb) -> list[int]:
    """Indices of the code cells without nbgrader metadata that no graded or solution cell needs,
    directly or through another needed cell (walking backwards from the end). The Colab set-up
    cell is never proposed. A proposal is checked by running the notebook without its demos."""
    needed: set[str] = set()
    demos = []
    for index in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        defined, used = names(cell.source)
        setup = nbgrader_meta(cell) or "google.colab" in cell.source or defined & needed
        if setup:
            needed |= used
        else:
            demos.append(index)
    return sorted(demos)


def tag(nb, indices: list[int]) -> None:
    """Make exactly ``indices`` the demo cells of ``nb``."""
    for index, cell in enumerate(nb.cells):
        tags = [t for t in cell.metadata.get("tags", []) if t != DEMO_TAG]
        if index in indices:
            tags.append(DEMO_TAG)
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)


# --------------------------------------------------------------------------- checking


def without_demos(nb):
    """A copy of ``nb`` with its demo cells removed (what grading runs)."""
    skip = DemoCells.of(nb)
    copy = nbformat.from_dict(nb)
    copy.cells = [c for c in copy.cells if not skip.skips(c)]
    return copy


def check(chapter: str, timeout: int = 600) -> list[str]:
    """Run the solution in fast mode with its demo cells removed; return the failing cells' errors."""
    from nbclient import NotebookClient

    nb = without_demos(load("solutions", chapter))
    for cell in nb.cells:  # the site's execution tags do not apply here
        cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "skip-execution"]
    os.environ["COURSE_LIB_FAST"] = "1"
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT / "solutions" / chapter)}},
    )
    client.execute()
    return [
        f"cell {c.get('id')}: {o.ename}: {o.evalue}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["propose", "check"])
    parser.add_argument("chapters", nargs="+")
    parser.add_argument("--write", action="store_true", help="propose: tag the cells in solutions/")
    args = parser.parse_args(argv)
    status = 0
    for chapter in args.chapters:
        if args.action == "propose":
            nb = load("solutions", chapter)
            indices = propose(nb)
            print(f"{chapter}: demo cells {[nb.cells[i].get('id') for i in indices]}")
            if args.write:
                tag(nb, indices)
                path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
                nbformat.write(nb, path)
                normalize_file(path)
        else:
            errors = check(chapter)
            print(f"{chapter}: " + ("ok without demos" if not errors else "\n  ".join(["FAILED", *errors])))
            status |= bool(errors)
    return status


if __name__ == "__main__":
    sys.exit(main())
