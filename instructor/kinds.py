"""Kinds of submission with known scores: the solution, the blank release and every kind of
mischief grading must survive (``KINDS``), built from a chapter's source and release.

The self-test (instructor/selftest.py), the test suite and the benchmarks build their submissions
here; instructor/batches.py packs them into batches, instructor/attacks.py adds the attacks on the
grading machine.
"""

from __future__ import annotations

import copy
from typing import Callable

import nbformat

from .builders import WRAP, Chapter, Submission, after_setup, code, wrap
from .demo_cells import DEMO_TAG, is_tagged_demo
from .notebooks import defined_functions, defined_names, is_solution, is_test, nbgrader_meta

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
    return _after_first_test(
        ch,
        """
        import time
        while True:
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                pass
        """,
        "a loop that swallows the interrupt, after the first test: the kernel is abandoned",
    )


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


def _demo_tagged(ch: Chapter) -> Submission:
    nb = copy.deepcopy(ch.release)
    for cell in nb.cells:
        if is_test(cell) or is_solution(cell):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), DEMO_TAG]
    return Submission(nb, 0, "blank, every exercise and test cell tagged 'demo' (grading skips demo cells)")


def _demo_ids(ch: Chapter) -> Submission:
    nb = copy.deepcopy(ch.release)
    demos = [c for c in nb.cells if is_tagged_demo(c)]
    tests = [c for c in nb.cells if is_test(c)]
    demo_ids = [c.id for c in demos]
    for number, (demo, test) in enumerate(zip(demos, tests)):
        test.id, demo.id = demo.id, f"moved-demo-{number}"
    for number, test in enumerate(tests[len(demos) :]):  # more tests than demos: these also lose
        test.id = f"{demo_ids[0]}-{number}" if demo_ids else test.id  # their nbgrader metadata
        test.metadata.pop("nbgrader", None)
    return Submission(nb, 0, "blank, test cells given the ids of demo cells (or stripped of nbgrader metadata)")


def _calls_reference(ch: Chapter) -> Submission:
    from course_lib import reference

    known = reference.names()  # every @reference registers on import (reference.load_all)
    nb = ch.solved()
    for cell in nb.cells:
        if is_solution(cell):
            names = [n for n in defined_names(cell.source) if n in known]
            cell.source = "\n".join(f"from course_lib.{reference.owner(name)} import {name}" for name in names)
    return Submission(nb, 0, "every exercise imports course_lib's reference implementation")


def _wrong_device(ch: Chapter) -> Submission:
    """Every result mixed with a CPU tensor: caught by the test cells that run the student's code
    on the meta device (grading runs on the CPU, where a CPU tensor mixes with anything)."""
    nb = ch.solved()
    for cell in nb.cells:
        if is_solution(cell):
            wrap(cell, "cpu")
    return Submission(
        nb,
        ch.total - ch.points_on_meta_device(),
        "results mixed with a tensor created on the CPU (caught on the meta device)",
    )


def _megabytes(ch: Chapter) -> Submission:
    nb = ch.solved()
    after_setup(
        nb,
        code("""
        for _ in range(20):
            print("x" * 1_000_000)
        print("y" * 5_000_000, end="")
        """),
    )
    return Submission(nb, ch.total, "prints 25 MB")


def _memory_hog(ch: Chapter) -> Submission:
    nb = ch.solved()
    after_setup(
        nb,
        code("""
        try:
            hog = bytearray(1 << 44)  # 16 TiB
        except MemoryError as err:
            print("MemoryError", err)
        """),
    )
    first = ch.first_exercise(nb)
    functions = defined_functions(first.source)
    for name in functions:
        first.source += "\n" + WRAP.format(
            name=name,
            body="chunks = [torch.ones(2**27) for _ in range(100_000)]  # 512 MiB each, touched\n    return out",
        )
    return Submission(
        nb,
        ch.total - ch.points_testing(functions),
        "allocates memory without bound in the first exercise (stopped by the kernel's limit)",
    )


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
            name=name,
            body="import linecache, sys\n"
            "    print(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))\n"
            "    return out",
        )
    nb.cells.append(code("print('\\n'.join(In))"))
    nb.cells.append(code("raise RuntimeError('\\n'.join(In[-3:]))"))
    return Submission(nb, ch.total, "prints the source of the hidden tests (In, linecache) and raises with it")


def _colab(ch: Chapter) -> Submission:
    """What a Colab download looks like, plus a student who recreated the first exercise's cells."""
    nb = ch.solved()
    nb.nbformat_minor = 0
    nb.metadata = nbformat.from_dict(
        {
            "colab": {"provenance": [], "toc_visible": True},
            "kernelspec": {"name": "python3", "display_name": "Python 3"},
            "language_info": {"name": "python"},
            "accelerator": "GPU",
        }
    )
    for number, cell in enumerate(nb.cells):
        cell.pop("id", None)
        cell.metadata.pop("tags", None)
        cell.metadata["id"] = f"c{number:06x}ColabCell"
        if cell.cell_type == "code":
            cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
            cell.metadata["outputId"] = f"{number:08x}-0000"
    first = ch.first_exercise(nb)
    index = nb.cells.index(first)
    for cell in nb.cells[index : index + 2]:  # the first exercise and its test, copied into new cells
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
    "demo-tagged-tests": _demo_tagged,
    "demo-id-tests": _demo_ids,
    "calls-reference": _calls_reference,
    "wrong-device": _wrong_device,
    "colab": _colab,
    "monkeypatch-torch": lambda ch: _monkeypatch(
        ch,
        PATCH_TORCH,
        "wrong answers; torch's comparisons, builtins.abs and an oracle patched, a TorchFunctionMode left on",
    ),
    "monkeypatch-grading": lambda ch: _monkeypatch(
        ch, PATCH_GRADING, "wrong answers; course_lib.grading's helpers replaced"
    ),
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
