"""Who installs what: pyproject's extras give a student course_lib, JupyterLab and Validate only, an
instructor the grading tools, a developer everything; environment.yml installs the student's set, and
`make lab` opens JupyterLab with nbgrader's instructor plugins and the news pop-up switched off."""

from __future__ import annotations

import json
import re

import tomllib
import yaml

from tests.notebook_tools import ROOT

STUDENT_CONFIG = ROOT / "jupyter-config" / "student"
INSTRUCTOR_PLUGINS = [
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
]


def _extras() -> dict[str, set[str]]:
    """{extra: names of the distributions it pulls in, self-references expanded}."""
    raw = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def names(extra: str) -> set[str]:
        found = set()
        for requirement in raw[extra]:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
            if name == "course-lib":
                for other in re.search(r"\[(.*)\]", requirement).group(1).split(","):
                    found |= names(other.strip())
            else:
                found.add(name)
        return found

    return {extra: names(extra) for extra in raw}


def test_student_extra_has_jupyterlab_and_validate_and_no_developer_tools():
    student = _extras()["student"]
    assert {"jupyterlab", "ipykernel", "nbgrader"} <= student, "JupyterLab, a kernel and nbgrader's Validate"
    developer_only = {
        "jupyter-book",
        "playwright",
        "psycopg2-binary",
        "pytest",
        "pytest-xdist",
        "nbval",
        "ruff",
        "axe-playwright-python",
        "dask",
        "sphinx-mathjax-offline",
    }
    assert not student & developer_only, f"a student would install {sorted(student & developer_only)}"


def test_instructor_extra_grades_and_dev_extra_has_everything():
    extras = _extras()
    assert {"nbgrader", "dask"} <= extras["instructor"]
    assert extras["student"] <= extras["instructor"], "an instructor can also open the notebooks"
    assert extras["student"] | extras["instructor"] <= extras["dev"]
    assert {"pytest", "jupyter-book", "playwright", "psycopg2-binary", "ruff", "axe-playwright-python"} <= extras["dev"]


def test_environment_yml_installs_the_student_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "-e .[student]" in pip and not any("[dev]" in line for line in pip)


def test_make_venv_installs_dev_and_make_lab_uses_the_student_config():
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[dev]"' in makefile, "CI needs the dev extra"
    lab = re.search(r"^lab: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    # started in chapters/: Validate reads jupyter-config/student/nbgrader_config.py, not the grading set-up
    assert "cd chapters && JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter-config/student $(BIN)/jupyter lab" in lab


def test_student_config_turns_off_instructor_tools_and_news_but_keeps_validate():
    page = json.loads((STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    for plugin in INSTRUCTOR_PLUGINS + ["@jupyterlab/apputils-extension:announcements"]:
        assert page.get(plugin) is True, f"{plugin} is not disabled"
    assert "@jupyter/nbgrader:validate-assignment" not in page
    server = json.loads((STUDENT_CONFIG / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.validate_assignment"] is True
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert server["LabApp"]["news_url"] is None
    validate = (STUDENT_CONFIG / "nbgrader_config.py").read_text()
    assert 'c.Execute.skip_cells_with_tag = "demo"' in validate, "Validate must run the skip-execution test cells"
