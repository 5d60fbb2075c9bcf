"""Adversarial submissions with known scores: check that this machine grades safely.

    python -m instructor.selftest [CHAPTER ...] [--grading-dir DIR] [--kinds k1,k2]

Builds, for each chapter, a batch of submissions — the solution, the blank release, and every
kind of mischief the grading must survive (see ``KINDS``) — grades it with the real pipeline
(instructor.autograde) and compares each score with the expected one. The test suite and
``make bench`` use the same builders. Exit status 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from .notebooks import defined_functions, defined_names, is_solution, is_test, load, nbgrader_meta
from .plugins import BEGIN_HIDDEN  # noqa: E402  (re-exported for the tests)


@dataclass
class Submission:
    """One student's file and the score the grading must give it."""

    notebook: nbformat.NotebookNode | bytes
    expected: float
    what: str


# --------------------------------------------------------------------------- reading a chapter

class Chapter:
    """What the builders need to know about one chapter: cells, points, who tests what."""

    def __init__(self, chapter: str):
        self.id = chapter
        self.source, self.release = load("solutions", chapter), load("chapters", chapter)
        self.points = {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"]) for c in self.source.cells if is_test(c)}
        self.total = sum(self.points.values())
        self.solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in self.source.cells if is_solution(c)}
        self.tests = {nbgrader_meta(c)["grade_id"]: c.source for c in self.source.cells if is_test(c)}

    def solved(self) -> nbformat.NotebookNode:
        """The release with every exercise cell filled in with the solution's code."""
        nb = copy.deepcopy(self.release)
        for cell in nb.cells:
            if is_solution(cell):
                cell.source = self.solutions[nbgrader_meta(cell)["grade_id"]]
        return nb

    def first_exercise(self, nb) -> nbformat.NotebookNode:
        return next(c for c in nb.cells if is_solution(c))

    def points_testing(self, functions: list[str]) -> float:
        """Points of the test cells that call any of ``functions``."""
        return sum(self.points[g] for g, src in self.tests.items()
                   if any(re.search(rf"(?<![\w.]){f}\b", src) for f in functions))

    def points_before(self, nb, index: int) -> float:
        """Points of the test cells above cell ``index``."""
        return sum(self.points[nbgrader_meta(c)["grade_id"]] for c in nb.cells[:index] if is_test(c))

    def points_hidden_mentioning(self, word: str) -> float:
        return sum(self.points[g] for g, src in self.tests.items() if word in src.split(BEGIN_HIDDEN, 1)[-1])


# --------------------------------------------------------------------------- wrapping student functions

WRAP = '''
_selftest_original_{name} = {name}
def {name}(*args, **kwargs):
    out = _selftest_original_{name}(*args, **kwargs)
    {body}
'''
TRANSFORMS = {
    "nan": "return torch.full_like(out, float('nan')) if isinstance(out, torch.Tensor) and out.is_floating_point() "
           "else (float('nan') if isinstance(out, float) else out)",
    "wrong": "return (~out if out.dtype == torch.bool else out + 1) if isinstance(out, torch.Tensor) "
             "else (out + 1000.0 if isinstance(out, float) else out)",
    # a 0-d CPU tensor mixes with any device (torch treats it as a scalar), so a 0-d result gets a (1,) one
    "cpu": "return ((out.reshape(1) + torch.zeros(1, dtype=out.dtype)).reshape(()) if out.dim() == 0 "
           "else out + torch.zeros(out.shape, dtype=out.dtype)) if isinstance(out, torch.Tensor) else out",
    "raises": "raise ValueError('a bug in the student code')",
}


WRAP_CLASS = '''
_selftest_original_{name} = {name}
class {name}(_selftest_original_{name}):
    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        {body}
'''


def wrap(cell, transform: str) -> None:
    """Append to a solution cell a wrapper that post-processes the result of each function (and of
    each class's forward); each element of a tuple result, such as an RNN's (outputs, h_T)."""
    body = TRANSFORMS[transform]
    if body.startswith("return "):
        body = (f"_selftest_t = lambda out: {body[len('return '):]}\n"
                "    return tuple(map(_selftest_t, out)) if isinstance(out, tuple) else _selftest_t(out)")
    classes = set(defined_names(cell.source)) - set(defined_functions(cell.source))
    for name in defined_names(cell.source):
        if name in classes:
            cell.source += "\n" + WRAP_CLASS.format(name=name, body=body.replace("\n    ", "\n        "))
        else:
            cell.source += "\n" + WRAP.format(name=name, body=body)


def code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(source).strip())


def after_setup(nb, cell) -> None:
    """Insert a student cell right after the setup cell (the first code cell)."""
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(index + 1, cell)


# --------------------------------------------------------------------------- the kinds

def _blank(ch: Chapter) -> Submission:
    return Submission(copy.deepcopy(ch.release), 0, "the untouched release")


def _solution(ch: Chapter) -> Submission:
    return Submission(ch.solved(), ch.total, "the solution")


def _first_broken(ch: Chapter, transform: str, what: str) -> Submission:
    nb = ch.solved()
    first = ch.first_exercise(nb)
    wrap(first, transform)
    return Submission(nb, ch.total - ch.points_testing(defined_functions(first.source)), what)


def _loop(ch: Chapter) -> Submission:
    nb = ch.solved()
    first = ch.first_exercise(nb)
    functions = defined_functions(first.source)
    first.source = "while True:\n    pass"
    return Submission(nb, ch.total - ch.points_testing(functions), "an infinite loop in the first exercise")


def _after_first_test(ch: Chapter, source: str, what: str) -> Submission:
    nb = ch.solved()
    index = next(i for i, c in enumerate(nb.cells) if is_test(c))
    nb.cells.insert(index + 1, code(source))
    return Submission(nb, ch.points_before(nb, index + 1), what)


def _uninterruptible(ch: Chapter) -> Submission:
    return _after_first_test(ch, """
        import time
        while True:
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                pass
        """, "a loop that swallows the interrupt, after the first test: the kernel is abandoned")


def _kernel_dies(ch: Chapter) -> Submission:
    return _after_first_test(ch, "import os\nos._exit(1)", "os._exit after the first test: later cells fail")


def _deleted(ch: Chapter) -> Submission:
    nb = ch.solved()
    nb.cells = [c for c in nb.cells if not is_test(c)]
    return Submission(nb, ch.total, "test cells deleted (they come back)")


def _edited(ch: Chapter) -> Submission:
    nb = copy.deepcopy(ch.release)
    for cell in nb.cells:
        if is_test(cell):
            cell.source = "print('all tests passed')"
    return Submission(nb, 0, "blank, test cells replaced by a print")


def _skip_tags(ch: Chapter) -> Submission:
    nb = copy.deepcopy(ch.release)
    for cell in nb.cells:
        if is_test(cell) or is_solution(cell):
            cell.metadata["tags"] = ["skip-execution", "raises-exception", "nbval-skip", "skip"]
    return Submission(nb, 0, "blank, execution-control tags on every exercise and test cell")


def _calls_reference(ch: Chapter) -> Submission:
    from course_lib import reference

    reference.load_all()  # every @reference registers on import
    nb = ch.solved()
    for cell in nb.cells:
        if is_solution(cell):
            names = [n for n in defined_names(cell.source) if n in reference.names()]
            cell.source = "\n".join(f"from course_lib.{reference.owner(name)} import {name}" for name in names)
    return Submission(nb, 0, "every exercise imports course_lib's reference implementation")


def _wrong_device(ch: Chapter) -> Submission:
    nb = ch.solved()
    for cell in nb.cells:
        if is_solution(cell):
            wrap(cell, "cpu")
    return Submission(nb, ch.total - ch.points_hidden_mentioning("meta"),
                      "results mixed with a tensor created on the CPU (caught on the meta device)")


def _megabytes(ch: Chapter) -> Submission:
    nb = ch.solved()
    after_setup(nb, code("""
        for _ in range(20):
            print("x" * 1_000_000)
        print("y" * 5_000_000, end="")
        """))
    return Submission(nb, ch.total, "prints 25 MB")


def _memory_hog(ch: Chapter) -> Submission:
    nb = ch.solved()
    after_setup(nb, code("""
        try:
            hog = bytearray(1 << 44)  # 16 TiB
        except MemoryError as err:
            print("MemoryError", err)
        """))
    first = ch.first_exercise(nb)
    functions = defined_functions(first.source)
    for name in functions:
        first.source += "\n" + WRAP.format(
            name=name, body="chunks = [torch.ones(2**27) for _ in range(100_000)]  # 512 MiB each, touched\n"
                            "    return out")
    return Submission(nb, ch.total - ch.points_testing(functions),
                      "allocates memory without bound in the first exercise (stopped by the kernel's limit)")


PATCH_TORCH = """
    import builtins, torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.isclose = lambda a, b, *rest, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
    builtins.abs = lambda x: 0
    F.scaled_dot_product_attention = lambda q, k, v, *a, **kw: torch.zeros(*q.shape[:-1], v.shape[-1])

    class Agree(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("isclose", "allclose", "equal"):
                return torch.ones((), dtype=torch.bool) if func.__name__ != "isclose" else \\
                    torch.ones(torch.broadcast_shapes(args[0].shape, args[1].shape), dtype=torch.bool)
            return func(*args, **(kwargs or {}))

    Agree().__enter__()  # left on for every later cell
    """

PATCH_GRADING = """
    import torch
    import course_lib
    from course_lib import grading
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    for name in ("assert_close", "assert_shape", "check_meta_device", "check_genuine"):
        try:
            setattr(grading, name, lambda *a, **k: None)
        except AttributeError as err:
            print(err)
        vars(grading)[name] = lambda *a, **k: None
    vars(grading)["run_student"] = lambda fn, *a, forbid=(), allow_refs=(), **k: fn(*a, **k)
    print("patched")
    """


def _monkeypatch(ch: Chapter, patch: str, what: str) -> Submission:
    nb = ch.solved()
    for cell in nb.cells:
        if is_solution(cell):
            wrap(cell, "wrong")
    after_setup(nb, code(patch))
    return Submission(nb, 0, what)


def _leaks(ch: Chapter) -> Submission:
    nb = ch.solved()
    first = ch.first_exercise(nb)
    for name in defined_functions(first.source):
        first.source += "\n" + WRAP.format(
            name=name, body="import linecache, sys\n"
                            "    print(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))\n"
                            "    return out")
    nb.cells.append(code("print('\\n'.join(In))"))
    nb.cells.append(code("raise RuntimeError('\\n'.join(In[-3:]))"))
    return Submission(nb, ch.total, "prints the source of the hidden tests (In, linecache) and raises with it")


def _colab(ch: Chapter) -> Submission:
    """What a Colab download looks like, plus a student who recreated the first exercise's cells."""
    nb = ch.solved()
    nb.nbformat_minor = 0
    nb.metadata = nbformat.from_dict({"colab": {"provenance": [], "toc_visible": True},
                                      "kernelspec": {"name": "python3", "display_name": "Python 3"},
                                      "language_info": {"name": "python"}, "accelerator": "GPU"})
    for number, cell in enumerate(nb.cells):
        cell.pop("id", None)
        cell.metadata.pop("tags", None)
        cell.metadata["id"] = f"c{number:06x}ColabCell"
        if cell.cell_type == "code":
            cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
            cell.metadata["outputId"] = f"{number:08x}-0000"
    first = ch.first_exercise(nb)
    index = nb.cells.index(first)
    for cell in nb.cells[index:index + 2]:  # the first exercise and its test, copied into new cells
        cell.metadata.pop("nbgrader", None)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        meta.pop("checksum", None)
        meta.pop("schema_version", None)  # nbgrader would stop the whole batch on this one
    return Submission(nb, ch.total, "a Colab download: ids and tags gone, metadata changed or dropped")


def _tampered(ch: Chapter) -> Submission:
    nb = ch.solved()
    tests = [c for c in nb.cells if is_test(c)]
    first = ch.first_exercise(nb)
    duplicate = copy.deepcopy(tests[0])  # a duplicated test cell (same nbgrader grade_id)
    duplicate.id = "duplicated-test-cell"
    nb.cells.insert(nb.cells.index(first) + 1, duplicate)
    tests[0].metadata["nbgrader"]["points"] = 100
    tests[-1].metadata["nbgrader"]["schema_version"] = 99
    tests[-1].metadata["nbgrader"]["locked"] = False
    if len(tests) > 1:
        tests[1].metadata["nbgrader"]["grade_id"] = "bonus_points"
    return Submission(nb, ch.total, "duplicated test cell, points/schema/locked/grade_id changed")


def _not_a_notebook(ch: Chapter) -> Submission:
    return Submission(b"this is not a notebook {", 0, "a file that is not a notebook")


KINDS: dict[str, Callable[[Chapter], Submission]] = {
    "solution": _solution,
    "blank": _blank,
    "raises": lambda ch: _first_broken(ch, "raises", "the first exercise raises"),
    "nan": lambda ch: _first_broken(ch, "nan", "the first exercise returns NaN"),
    "infinite-loop": _loop,
    "deleted-tests": _deleted,
    "edited-tests": _edited,
    "skip-tags": _skip_tags,
    "calls-reference": _calls_reference,
    "wrong-device": _wrong_device,
    "colab": _colab,
    "monkeypatch-torch": lambda ch: _monkeypatch(ch, PATCH_TORCH, "wrong answers; torch's comparisons, "
                                                 "builtins.abs and an oracle patched, a TorchFunctionMode left on"),
    "monkeypatch-grading": lambda ch: _monkeypatch(ch, PATCH_GRADING, "wrong answers; course_lib.grading's "
                                                   "helpers replaced"),
    # The pipeline kinds below do not depend on the chapter: the tests run them on one chapter.
    "uninterruptible-loop": _uninterruptible,
    "kernel-dies": _kernel_dies,
    "prints-megabytes": _megabytes,
    "memory-hog": _memory_hog,
    "leaks-hidden": _leaks,
    "tampered-metadata": _tampered,
    "not-a-notebook": _not_a_notebook,
}
# What depends on the chapter (its exercises, references and device checks) is graded for every chapter;
# the rest tests the pipeline, whatever the chapter, and is graded once, on the template chapter.
CHAPTER_KINDS = ("solution", "blank", "calls-reference", "wrong-device")
PIPELINE_KINDS = tuple(k for k in KINDS if k not in CHAPTER_KINDS)
TEMPLATE_CHAPTER = "03_attention"


# --------------------------------------------------------------------------- common mistakes

def mistake_submissions(chapter: str) -> dict[str, tuple[Submission, dict]]:
    """Every registered mistake of the chapter in as few submissions as possible.

    Submission i replaces each exercise function (or class) with its i-th registered mistake, so a
    chapter needs as many submissions as its most-mistaken function has mistakes, not one per
    mistake. Returns student id -> (submission, {replaced name: Mistake}); the expected score is
    left to the caller (tests/test_autograde.py runs the same code in-process to know it).
    """
    from course_lib import mistakes

    ch = Chapter(chapter)
    by_name: dict[str, list] = {}
    for mistake in mistakes.for_chapter(chapter):
        by_name.setdefault(mistake.replaces, []).append(mistake)
    batch = {}
    for i in range(max(map(len, by_name.values()), default=0)):
        chosen = {name: found[i] for name, found in by_name.items() if i < len(found)}
        nb = ch.solved()
        for cell in nb.cells:
            if is_solution(cell):
                for name in defined_names(cell.source):
                    if name in chosen:
                        cell.source += "\n\n" + mistakes.submission_source(chosen[name])
        what = "common mistakes: " + ", ".join(m.id for m in chosen.values())
        batch[f"mistakes-{i + 1}"] = (Submission(nb, float("nan"), what), chosen)
    return batch


# --------------------------------------------------------------------------- batches

def submissions(chapter: str, kinds: list[str] | None = None) -> dict[str, Submission]:
    """student id → Submission for the given kinds (default: all)."""
    ch = Chapter(chapter)
    return {kind: KINDS[kind](ch) for kind in (kinds or KINDS)}


def write(batch: dict[str, Submission], folder: Path, chapter: str) -> Path:
    """One folder per student: folder/STUDENT/CHAPTER.ipynb."""
    for student, sub in batch.items():
        target = folder / student / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(sub.notebook, bytes):
            target.write_bytes(sub.notebook)
        else:
            nbformat.write(sub.notebook, target)
    return folder


def main(argv: list[str] | None = None) -> int:
    from .attacks import Listener, pwned_files, sandbox_attacks
    from .autograde import autograde_chapters
    from .nbgrader_cli import chapter_ids

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="default: every chapter")
    parser.add_argument("--grading-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--kinds", help=f"comma-separated subset of {', '.join(KINDS)}")
    parser.add_argument("--sandbox", action="store_true", help="also run the sandbox attacks")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",") if args.kinds else None
    failures = 0
    for chapter in args.chapters or chapter_ids():
        with tempfile.TemporaryDirectory() as scratch:
            grading_dir = args.grading_dir or Path(scratch) / "grading"
            listener = Listener()
            batch = submissions(chapter, kinds)
            if args.sandbox:
                batch.update(sandbox_attacks(chapter, listener.port))
            folder = write(batch, Path(scratch) / "submissions", chapter)
            result = autograde_chapters([chapter], folder, grading_dir)[0]
            listener.close()
            for student, sub in sorted(batch.items()):
                got = result.scores.get(student)
                ok = got == sub.expected
                failures += not ok
                print(f"{'ok ' if ok else 'BAD'} {chapter} {student:<22} {got} (expected {sub.expected:g}): {sub.what}")
            planted = [p for p in pwned_files() if p.exists()]
            for path in planted:
                path.unlink()
                print(f"BAD a submission wrote {path} (removed)")
            if listener.received:
                print(f"BAD a submission reached the network: {json.dumps(listener.received[0][:80].decode(errors='replace'))}")
            failures += len(planted) + bool(listener.received)
    print("all as expected" if not failures else f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
