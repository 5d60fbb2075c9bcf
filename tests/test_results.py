"""course_lib.results: figures a notebook records for `make bench`, and their targets."""

import math

import pytest
import torch

import course_lib
from course_lib.results import RESULTS_ENV, Result, read_results, record_result


def test_silent_without_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert course_lib.record_result("accuracy", 0.9, at_least=0.8) is None  # a cell's last line shows nothing
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_appends_one_json_line_per_call_and_reads_back(monkeypatch, tmp_path):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv(RESULTS_ENV, str(path))
    record_result("attention accuracy", torch.tensor(0.97), at_least=0.95)
    record_result("slope", 2.7, unit="")
    record_result("RNN at 60", 0.8, at_most=0.7)
    got = read_results(path)
    assert [r.name for r in got] == ["attention accuracy", "slope", "RNN at 60"]
    assert got[0].value == pytest.approx(0.97) and got[0].meets_target is True
    assert got[1].meets_target is None and got[1].show() == "2.7"
    assert got[2].meets_target is False and got[2].target_text() == "≤ 70.0%"


def test_targets_and_formatting():
    assert Result("a", 0.978, at_least=0.97).show() == "97.8%"
    assert Result("a", 0.969, at_least=0.97).meets_target is False
    assert Result("a", 0.5, at_least=0.4, at_most=0.6).target_text() == "≥ 40.0%, ≤ 60.0%"
    assert Result("a", math.nan, at_least=0.0).meets_target is False  # a nan never meets a target


def test_read_results_of_a_missing_file_is_empty(tmp_path):
    assert read_results(tmp_path / "absent.jsonl") == []


def test_bad_input_names_the_argument():
    with pytest.raises(TypeError, match="value must be a number.*list"):
        record_result("accuracy", [0.9])
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        record_result("  ", 0.9)
