"""Small pieces of the instructor package, without nbgrader: device checks read from code, the
mistake tag read back, student ids, the worker count."""

import pytest

from course_lib import mistakes
from instructor.builders import uses_meta_device
from instructor.collect import student_id


@pytest.mark.parametrize(
    "source,expected",
    [
        ("check_meta_device(f, x, expected_shape=(2,), what='f')", True),
        ("grading.check_meta_device(f, x, expected_shape=(2,), what='f')", True),
        ("got = grading.run_student(f, 4, device=torch.device('meta'))", True),
        ("y = f(x.to('meta'))", True),
        ("y = f(x, device='meta')", True),
        ("# the meta device is not used here\nassert got.device.type == 'meta', 'meta'", False),
        ("print('runs on meta')", False),
        ("this is not python (", False),
    ],
)
def test_meta_device_use_is_read_from_the_code_not_the_word(source, expected):
    assert uses_meta_device(source) is expected


def test_mistake_tags_are_read_back_through_the_same_format():
    first, second = mistakes.for_chapter("03_attention")[:2]
    message = f"Likely mistake: ... {second.tag} and {first.tag}, again {second.tag}; [mistake nonsense]"
    assert mistakes.named_in(message) == [second.key, first.key]
    assert mistakes.named_in("no tag here") == []


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("jdoe", "jdoe"),
        ("Jane Doe", "Jane-Doe"),
        ("  ../../etc ", "etc"),
        ("a@b.edu", "a@b.edu"),
        ("é_ü", "_"),
        ("..", ""),
        (".hidden", "hidden"),
    ],
)
def test_student_ids_are_safe_folder_names(raw, clean):
    assert student_id(raw) == clean


def test_default_worker_count_is_bounded_by_memory(monkeypatch):
    pytest.importorskip("distributed")
    import psutil

    from instructor import workers

    available = psutil.virtual_memory().available
    monkeypatch.setenv(workers.WORKER_MEMORY_ENV, str(available))  # room for one worker only
    assert workers.default_workers() == 1
    monkeypatch.setenv(workers.WORKER_MEMORY_ENV, "1K")  # memory no bound: the cores decide
    assert workers.default_workers() == len(__import__("os").sched_getaffinity(0))
