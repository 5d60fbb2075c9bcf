"""Instructor tooling: nbgrader plugins, release normalisation and the autograde pipeline.

Not part of the student package (``course_lib``); nbgrader_config.py imports it from the
repository root.
"""
