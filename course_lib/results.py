"""A chapter's measured figures (accuracies, slopes, losses), for `make bench` to collect.

A demo cell that measures something the course promises calls :func:`record_result`::

    record_result("exact match, held-out pairs", exact, at_least=0.95)

In a reader's or student's kernel this does nothing visible. When ``COURSE_LIB_RESULTS``
names a file (benchmarks/bench_notebooks.py sets it for each run), one JSON line is appended
to it, so that docs/benchmarks.md reports the figure next to the chapter's run time and target.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_ENV = "COURSE_LIB_RESULTS"


@dataclass(frozen=True)
class Result:
    """One measured figure and the target it should meet (None: no target, shown for reference)."""

    name: str
    value: float
    unit: str = "%"  # "%" shows value × 100 with one decimal; anything else is appended as is
    at_least: float | None = None
    at_most: float | None = None

    @property
    def meets_target(self) -> bool | None:
        """True/False against the target; None when the figure has no target."""
        if self.at_least is None and self.at_most is None:
            return None
        ok = not math.isnan(self.value)
        if self.at_least is not None:
            ok = ok and self.value >= self.at_least
        if self.at_most is not None:
            ok = ok and self.value <= self.at_most
        return ok

    def show(self, value: float | None = None) -> str:
        """``value`` (default: this result's) in this result's unit, e.g. '97.8%' or '2.71'."""
        v = self.value if value is None else value
        return f"{100 * v:.1f}%" if self.unit == "%" else f"{v:.3g}{self.unit}"

    def target_text(self) -> str:
        """The target in words, e.g. '≥ 95.0%', '≤ 70.0%', or '' without one."""
        parts = []
        if self.at_least is not None:
            parts.append(f"≥ {self.show(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"≤ {self.show(self.at_most)}")
        return ", ".join(parts)


def record_result(
    name: str, value: float, *, unit: str = "%", at_least: float | None = None, at_most: float | None = None
) -> None:
    """Note a measured figure; append it to the file named by ``COURSE_LIB_RESULTS`` if set.

    ``value`` is a plain number (a 0-D tensor is accepted); with ``unit="%"`` it is a fraction
    in [0, 1]. Returns nothing, so that a call at the end of a cell prints nothing.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"value must be a number (or a 0-D tensor); got {type(value).__name__}") from None
    result = Result(name, number, unit, at_least, at_most)
    path = os.environ.get(RESULTS_ENV, "").strip()
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(result)) + "\n")


def read_results(path: Path) -> list[Result]:
    """Every result appended to ``path`` (an empty list when the file does not exist)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Result(**json.loads(line)) for line in lines if line.strip()]
