# Transformers, built by hand — every command a student, instructor or CI needs.
# `make test` and `make book` work on a fresh machine: they create .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: venv lint test test-fast book book-fast release lab lab-instructor autograde grading-check bench bench-autograde clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

venv: $(STAMP)  ## create .venv and install course_lib with its [dev] extras

# Ruff (configured in pyproject.toml): the Python code at 120 columns; the solution notebooks at
# 88 (the website's code column), only for the chapters listed in LINT_NOTEBOOKS (those that
# comply today; add a chapter once `ruff check --line-length 88 solutions/NN_slug` passes).
LINT_PATHS := course_lib instructor tests benchmarks
LINT_NOTEBOOKS :=
lint: venv  ## ruff lint and format check (make test runs it first)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(if $(LINT_NOTEBOOKS),$(BIN)/ruff check --line-length 88 $(LINT_NOTEBOOKS:%=solutions/%))
	$(if $(LINT_NOTEBOOKS),$(BIN)/ruff format --check --line-length 88 $(LINT_NOTEBOOKS:%=solutions/%))

test: venv lint  ## lint, then the whole suite: unit, parity, notebooks (fast mode), release, nbgrader round trips, site
	$(PY) -m pytest -n $(JOBS) --dist loadscope --durations=25 --nbval-lax tests solutions

# test-fast runs each solution notebook once, in-process (tests/in_process.py: every graded cell,
# the release's stubs and the common mistakes against it); `make test` also runs them in a kernel (nbval).
test-fast: venv  ## the quick loop: everything not marked slow
	$(PY) -m pytest -n $(JOBS) --dist loadscope -m "not slow" tests

# Each mode builds into its own folder with its own execution cache (<folder>/_build/.jupyter_cache),
# so a rebuild re-executes only the notebooks that changed and fast outputs never reach `make book`.
# MPLBACKEND is dropped: with MPLBACKEND=Agg (as in CI) the kernels would show no figures.
book: venv  ## the website in _build/html, demos executed in full mode (cached), warnings are errors
	env -u MPLBACKEND $(BIN)/jupyter-book build . -W -n --keep-going

book-fast: venv  ## the website with demos in fast mode (what CI builds), in _build/fast/_build/html
	env -u MPLBACKEND COURSE_LIB_FAST=1 $(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/fast

release: venv  ## solutions/ -> chapters/ with nbgrader, normalised
	$(PY) -m instructor.release

# The student's JupyterLab: nbgrader's instructor tools and the news pop-up are off, Validate stays
# (jupyter-config/README.md). `make lab-instructor` is JupyterLab with everything nbgrader installs.
lab: venv  ## JupyterLab on the student notebooks, as a student sees it
	cd chapters && JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter-config/student $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

lab-instructor: venv  ## JupyterLab on the repository with nbgrader's instructor tools (Formgrader, Create Assignment)
	$(BIN)/jupyter lab . $(if $(filter 0,$(shell id -u)),--allow-root)

# Grading on Dask workers: WORKERS=N (a local cluster; WORKERS=auto: the cores, bounded by memory)
# or SCHEDULER=tcp://HOST:8786 (an existing cluster, book/instructors.md). Neither: one process.
WORKER_FLAGS = $(if $(SCHEDULER),--scheduler $(SCHEDULER),$(if $(WORKERS),--workers $(filter-out auto,$(WORKERS))))

# make autograde CHAPTER=03_attention|all SUBMISSIONS=folder-or.zip [LMS=attempt|canvas|moodle] [REGEX='...'] [WORKERS=N|SCHEDULER=...]
autograde: venv  ## grade CHAPTER's SUBMISSIONS in a sandbox; grades.csv, review.csv and feedback in _grading/
	@test -n "$(CHAPTER)" -a -n "$(SUBMISSIONS)" || { echo "usage: make autograde CHAPTER=03_attention|all SUBMISSIONS=folder-or.zip [LMS=canvas] [REGEX='...'] [WORKERS=N] [SCHEDULER=tcp://HOST:8786]"; exit 2; }
	$(PY) -m instructor.autograde $(CHAPTER) $(SUBMISSIONS) $(if $(LMS),--lms $(LMS)) $(if $(REGEX),--regex '$(REGEX)') $(WORKER_FLAGS)

grading-check: venv  ## adversarial submissions with known scores, sandbox attacks included, graded on Dask workers
	$(PY) -m instructor.selftest $(CHAPTER) --sandbox $(or $(WORKER_FLAGS),--workers)

bench-autograde: venv  ## autograding throughput alone -> section 3 of docs/benchmarks.md
	$(PY) benchmarks/bench_autograde.py --update-doc

bench: venv  ## timings and quality figures -> docs/benchmarks.md
	$(PY) benchmarks/run.py

clean:
	rm -rf _build _grading .pytest_cache
