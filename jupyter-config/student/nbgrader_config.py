"""nbgrader's Validate button in a student's JupyterLab (`make lab` starts in chapters/, so the course's
own nbgrader_config.py, the instructor's grading set-up with its sandboxed kernel, is not read).

Validate runs the notebook in the student's own kernel and reports the test cells that fail."""
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# Exercises and tests carry `skip-execution` for the website; nbclient would skip them, so Validate
# skips only the demonstrations (tag `demo`: figures and training runs no test depends on).
c.Execute.skip_cells_with_tag = "demo"
c.Execute.timeout = 300  # seconds per cell: torch on a laptop CPU
