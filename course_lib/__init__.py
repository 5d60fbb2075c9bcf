"""course_lib — the reference code of "Transformers, built by hand".

One module per chapter concept (``attention``, ...), plus shared infrastructure:
``runtime`` (device, seeding, fast mode), ``data``, ``training``, ``plotting`` and
``grading`` (helpers the notebooks' test cells call), and ``results`` (the measured figures
that `make bench` collects).
"""
from .results import record_result
from .runtime import fast_or_full, get_device, is_fast_mode, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "is_fast_mode", "fast_or_full", "record_result", "__version__"]
