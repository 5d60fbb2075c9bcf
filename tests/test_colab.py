"""Colab: every chapter's badge and setup cell agree with _config.yml, and `course_lib` installs from a
wheel into a fresh environment and imports from outside the repository, as Colab's pip does."""

import base64
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.notebook_tools import ROOT, chapter_ids, load
from tests.site_tools import config, repository

CHAPTERS = chapter_ids()
BADGE = re.compile(
    r'^<a href="(?P<link>[^"]+)"><img src="(?P<image>[^"]+)" alt="Open in Colab" width="117" height="20"></a>$'
)


def _badge(nb):
    title = nb.cells[0]
    assert title.cell_type == "markdown" and re.fullmatch(r"# \d+\. .+", title.source.strip()), (
        "the first cell holds the title alone ('# N. Title'), so the badge sits right under it"
    )
    cell = nb.cells[1]
    match = BADGE.match(cell.source.strip()) if cell.cell_type == "markdown" else None
    assert match, (
        "the cell under the title must be the 'Open in Colab' badge; "
        "run `python book/colab_badges.py` and `make release`"
    )
    return match["image"], match["link"]


def test_repository_and_launch_buttons_are_configured():
    url, org_repo, branch = repository()
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", org_repo) and branch
    launch = config()["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["binderhub_url"].startswith("https://")


@pytest.mark.parametrize("kind", ["solutions", "chapters"])
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_badge_links_to_the_chapter_in_the_configured_repository(chapter, kind):
    image, link = _badge(load(kind, chapter))
    _, org_repo, branch = repository()
    assert link == (
        f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/chapters/{chapter}/{chapter}.ipynb"
    ), "run `python book/colab_badges.py` and `make release`"
    assert (ROOT / "chapters" / chapter / f"{chapter}.ipynb").exists()
    svg = (ROOT / "book" / "images" / "colab-badge.svg").read_bytes()
    assert image == "data:image/svg+xml;base64," + base64.b64encode(svg).decode(), (
        "the badge embeds book/images/colab-badge.svg, so it shows offline"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_setup_cell_installs_from_the_configured_repository_in_colab_only(chapter):
    setup = next(c for c in load("chapters", chapter).cells if c.cell_type == "code")
    url, _, _ = repository()
    lines = setup.source.splitlines()
    install = [i for i, line in enumerate(lines) if "%pip install" in line]
    assert len(install) == 1, "one %pip install in the setup cell"
    assert f'"course_lib @ git+{url}"' in lines[install[0]], "the install uses _config.yml's repository.url"
    guard = lines[install[0] - 1]
    assert guard.startswith('if "google.colab" in sys.modules') and lines[install[0]].startswith("    "), (
        "the install runs in Colab only"
    )


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_environment_and_imports_outside_the_repository(tmp_path):
    """Build a wheel offline, install it into a new venv that sees the already-installed dependencies
    (torch, numpy...) the way Colab's environment does, and import course_lib from elsewhere."""
    wheels = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT)]
    # Offline with this environment's setuptools; if it is too old to build wheels, let pip fetch the backend.
    build = subprocess.run(command + ["--no-build-isolation", "--no-index"], capture_output=True, text=True)
    if build.returncode != 0:
        build = subprocess.run(command, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("course_lib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "course_lib/attention.py" in names and "course_lib/data/__init__.py" in names
    assert not [n for n in names if n.split("/")[0] in ("tests", "instructor", "solutions", "chapters")], (
        "the wheel ships course_lib only"
    )

    venv = tmp_path / "colab-like"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The preinstalled packages (as on Colab): this environment's site-packages, appended after the new
    # venv's own, without running its .pth files (so the editable course_lib of the checkout stays hidden).
    (site / "preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--no-deps",
            "--ignore-installed",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    probe = (
        "import importlib.metadata as md, course_lib, course_lib.attention as a, torch\n"
        "from packaging.requirements import Requirement\n"
        "missing = [r for r in map(Requirement, md.requires('course_lib') or []) if not r.marker\n"
        "           and md.version(r.name) not in r.specifier]\n"
        "assert not missing, f'unsatisfied requirements: {missing}'\n"
        "q = torch.randn(2, 3, 4)\n"
        "print(course_lib.__file__); print(list(a.scaled_dot_product_attention(q, q, q).shape))\n"
    )
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    where, shape = run.stdout.splitlines()
    assert Path(where).is_relative_to(venv), f"course_lib was imported from {where}, not from the installed wheel"
    assert shape == "[2, 3, 4]"
