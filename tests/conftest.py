"""Shared fixtures. Every test (and every kernel a test starts) runs in fast mode."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["COURSE_LIB_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the instructor package and tests.* helpers
