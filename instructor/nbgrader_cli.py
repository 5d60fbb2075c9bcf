"""Run nbgrader commands from the course root with the right PATH and grading folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def nbgrader(
    *args: str,
    grading_dir: Path | None = None,
    check: bool = True,
    extra_env: dict[str, str] | None = None,
    die_with_parent: bool = False,
) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in the course root; nbgrader's own alembic must be on PATH.

    ``die_with_parent``: nbgrader is killed if this process dies (a Dask worker killed mid-task
    leaves no nbgrader grading on behind it)."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=ROOT,
        env=nbgrader_env(grading_dir, extra_env),
        capture_output=True,
        text=True,
        preexec_fn=_die_with_parent if die_with_parent else None,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return result


def nbgrader_env(grading_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment nbgrader runs in: ours, the venv's bin/ first, the grading folder, extras."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if grading_dir is not None:
        env["COURSE_GRADING_DIR"] = str(Path(grading_dir).resolve())
    env.update(extra_env or {})
    return env


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def chapter_ids(root: Path = ROOT) -> list[str]:
    """Every chapter in solutions/: folders NN_slug holding NN_slug.ipynb, in order."""
    return sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
