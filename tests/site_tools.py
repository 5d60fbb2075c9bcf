"""The website as the tests see it: one fast-mode build per test run, shared by tests/test_site.py and
tests/test_browser.py (and by all pytest-xdist workers), plus what a page must never show."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.notebook_tools import ROOT, graded_cells, hidden_lines, is_solution, load

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def repository() -> tuple[str, str, str]:
    """(url, "org/repo", branch) from _config.yml's `repository`."""
    repo = config()["repository"]
    url = repo["url"].rstrip("/")
    assert url.startswith("https://github.com/"), f"repository.url must be a GitHub address; got {url}"
    return url, url.removeprefix("https://github.com/"), repo.get("branch", "main")


def build_site(tmp_path_factory) -> Path:
    """`jupyter-book build -W -n` in fast mode, once per test run; returns the html folder.

    Workers of one pytest-xdist run share the parent of their base temp folder, so the first
    worker that gets the lock builds and the others reuse its result (failure included).
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out, record = base / "site", base / "site-build.json"
    with open(base / "site-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            jb = Path(sys.executable).parent / "jupyter-book"
            start = time.monotonic()
            # Without MPLBACKEND the kernels use the inline backend: with Agg (as CI sets it) no figure would show.
            env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"} | {"COURSE_LIB_FAST": "1"}
            result = subprocess.run(
                [str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
            )
            record.write_text(
                json.dumps(
                    {
                        "returncode": result.returncode,
                        "seconds": time.monotonic() - start,
                        "output": (result.stdout + result.stderr)[-6000:],
                    }
                )
            )
    built = json.loads(record.read_text())
    assert built["returncode"] == 0, f"jupyter-book build -W -n failed:\n{built['output']}"
    return out / "_build" / "html"


def html_pages(site: Path) -> list[Path]:
    """Every HTML page of the built site (the search page, the index and the redirect included)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def secret_lines(chapter: str) -> list[str]:
    """Lines of solution code and hidden tests that the student notebook does not contain."""
    source = load("solutions", chapter)
    solution = [
        line.strip()
        for cell in source.cells
        if is_solution(cell)
        for block in SOLUTION.findall(cell.source)
        for line in block.splitlines()
    ]
    hidden = [line for cell in graded_cells(source) for line in hidden_lines(cell.source)]
    release_text = "\n".join(c.source for c in load("chapters", chapter).cells)
    return [line for line in solution + hidden if len(line) > 20 and line not in release_text]
