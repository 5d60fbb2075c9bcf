"""A student's JupyterLab, in a real browser (slow): JupyterLab started as `make lab` starts it (in the
notebooks' folder, JUPYTER_CONFIG_PATH=jupyter-config/student) on a free port, Debian's Chromium driven
by Playwright. The student opens chapter 3, runs all cells and meets the first exercise's
NotImplementedError; puts in a wrong answer (the unscaled scores) and the test names the mistake;
Validate lists the failing tests; no instructor menu or panel is there. Screenshots go to
test-artifacts/screenshots/lab-*.png, like the site's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.notebook_tools import ROOT
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, _require_browser

pytestmark = pytest.mark.slow

CHAPTER = "03_attention"
EXERCISE, TEST = "attention_scores", "test_attention_scores"  # the chapter's first exercise and its test
WRONG = (
    "def attention_scores(q: Tensor, k: Tensor) -> Tensor:\n"
    "    return q @ k.transpose(-2, -1)  # forgot the 1/sqrt(d_k)\n"
)
NAMED = "the division by √d_k is missing"  # course_lib/mistakes/ch03_attention.py, scores-unscaled
SLOW_MS = 600_000  # the machine is shared: torch imports and a notebook run can take minutes

CELL_INDEX = """id => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.findIndex(c => ((c.model.getMetadata && c.model.getMetadata("nbgrader")) || {}).grade_id === id);
}"""
# The cell's outputs from the notebook's model (JupyterLab renders only the cells near the viewport).
CELL_OUTPUT = """i => JSON.stringify(window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.toJSON())"""
SHOW_CELL = """async i => { const nb = window.jupyterapp.shell.currentWidget.content;
                nb.activeCellIndex = i; await nb.scrollToCell(nb.widgets[i], "start"); }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base url, token) of a student's JupyterLab on a copy of the chapter."""
    _require_browser()
    home = tmp_path_factory.mktemp("student")
    shutil.copytree(ROOT / "chapters" / CHAPTER, home / "chapters" / CHAPTER)
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"} | {
        "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter-config" / "student"),  # what `make lab` sets
        "JUPYTER_CONFIG_DIR": str(home / "config"),  # no personal ~/.jupyter
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "COURSE_LIB_FAST": "1",
        "COURSE_LIB_DEVICE": "cpu",
    }
    jupyter = Path(sys.executable).parent / "jupyter"
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.token={token}",
            "--LabApp.expose_app_in_browser=True",
            "--allow-root",
        ],  # the test reads the notebook through the app
        cwd=home / "chapters",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
            time.sleep(1)
    yield base, token, home
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_instructor_pages_are_not_served(lab):
    base, token, _ = lab
    assert _status(f"{base}/formgrader?token={token}") == 404, "Formgrader must be off for students"
    assert _status(f"{base}/nbgrader_version?token={token}&version=0.9.6") == 200, "Validate's server side is on"


def test_student_runs_the_chapter_meets_the_exercise_and_validates(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, home = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(SLOW_MS)
        page.goto(f"{base}/lab/tree/{CHAPTER}/{CHAPTER}.ipynb?token={token}", timeout=SLOW_MS)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.content.widgets.length > 20"
        )
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
            " === 'idle'"
        )
        page.screenshot(path=SCREENSHOTS / "lab-opened.png")

        # No instructor tools: no "Nbgrader" menu, no Create Assignment or Formgrader panel or command;
        # no news pop-up. Validate is in the notebook's toolbar.
        menus = page.locator("#jp-menu-panel .lm-MenuBar-itemLabel").all_inner_texts()
        assert "File" in menus and not any("nbgrader" in m.lower() for m in menus), menus
        commands = page.evaluate("() => window.jupyterapp.commands.listCommands()")
        assert not [c for c in commands if c.startswith("nbgrader:")], "instructor commands are registered"
        assert page.locator("text=Create Assignment").count() == 0
        assert page.locator("text=/Jupyter news/i").count() == 0, "the news pop-up is shown"
        validate = page.locator(".validate-button")
        expect(validate).to_be_visible()

        # Run all: the first exercise's test cell stops the run with NotImplementedError.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        test_cell = page.evaluate(CELL_INDEX, TEST)
        assert test_cell > 0
        page.wait_for_function(f"() => ({CELL_OUTPUT})({test_cell}).includes('NotImplementedError')")
        page.evaluate(SHOW_CELL, test_cell)
        page.wait_for_timeout(2000)
        page.screenshot(path=SCREENSHOTS / "lab-not-implemented.png")

        # A wrong answer: the visible test names the mistake.
        exercise = page.evaluate(CELL_INDEX, EXERCISE)
        page.evaluate(
            """([i, source]) => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          nb.widgets[i].model.sharedModel.setSource(source);
          nb.activeCellIndex = i;
        }""",
            [exercise, WRONG],
        )
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
        )
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute('notebook:run-cell-and-select-next');"
            " await window.jupyterapp.commands.execute('notebook:run-cell-and-select-next'); }"
        )
        page.wait_for_function(f"() => ({CELL_OUTPUT})({test_cell}).includes('Likely mistake')")
        message = page.evaluate(CELL_OUTPUT, test_cell)
        assert NAMED in message and "NotImplementedError" not in message, message[-800:]
        page.evaluate(SHOW_CELL, test_cell)
        page.wait_for_timeout(2000)
        page.screenshot(path=SCREENSHOTS / "lab-mistake-named.png")

        # Validate (saves, then runs the notebook with nbgrader): the failing tests are listed.
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        validate.click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Validation Results", timeout=SLOW_MS)
        expect(dialog.locator(".validation-failed")).to_be_visible()
        failed = dialog.inner_text()
        assert "The following cell failed" in failed and "attention_scores" in failed, failed[:1500]
        assert NAMED in failed, "Validate shows the test's message naming the mistake"
        page.screenshot(path=SCREENSHOTS / "lab-validate.png")
        browser.close()
    for name in ["opened", "not-implemented", "mistake-named", "validate"]:
        assert (SCREENSHOTS / f"lab-{name}.png").stat().st_size > 10_000
