"""`make release`: solutions/ (nbgrader source) → chapters/ (student notebooks), normalised.

python -m instructor.release [--out DIR] [CHAPTER ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .nbgrader_cli import ROOT, chapter_ids, nbgrader
from .notebooks import normalize_file


def release(chapters: list[str] | None = None, out: Path | None = None, grading_dir: Path | None = None) -> list[Path]:
    """Generate the student version of each chapter into ``out`` (default chapters/)."""
    out = (out or ROOT / "chapters").resolve()
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for chapter in chapters or chapter_ids():
            nbgrader(
                "generate_assignment",
                chapter,
                "--force",
                f"--CourseDirectory.release_directory={out}",
                grading_dir=grading_dir or Path(scratch),
            )
            for path in sorted((out / chapter).glob("*.ipynb")):
                normalize_file(path)
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="chapter ids such as 03_attention (default: all)")
    parser.add_argument("--out", type=Path, help="release folder (default: chapters/)")
    args = parser.parse_args()
    for path in release(args.chapters or None, args.out):
        print(f"released {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
