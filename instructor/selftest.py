"""Adversarial submissions with known scores: check that this machine grades safely.

    python -m instructor.selftest [CHAPTER ...] [--grading-dir DIR] [--kinds k1,k2] [--sandbox]
                                  [--workers [N] | --scheduler ADDRESS]

Builds, for each chapter, a batch of submissions — the solution, the blank release, and every
kind of mischief the grading must survive (instructor/kinds.py), with ``--sandbox`` the attacks on
the grading machine (instructor/attacks.py) — grades it with the real pipeline
(instructor.autograde, on Dask workers with ``--workers``) and compares each score with the
expected one. Exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .attacks import Listener, pwned_files, sandbox_attacks
from .autograde import add_worker_options, autograde_chapters
from .batches import submissions, write
from .kinds import KINDS
from .nbgrader_cli import chapter_ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="default: every chapter")
    parser.add_argument("--grading-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--kinds", help=f"comma-separated subset of {', '.join(KINDS)}")
    parser.add_argument("--sandbox", action="store_true", help="also run the sandbox attacks")
    add_worker_options(parser)
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
            result = autograde_chapters([chapter], folder, grading_dir, workers=args.workers, scheduler=args.scheduler)[
                0
            ]
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
                sent = json.dumps(listener.received[0][:80].decode(errors="replace"))
                print(f"BAD a submission reached the network: {sent}")
            failures += len(planted) + bool(listener.received)
    print("all as expected" if not failures else f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
