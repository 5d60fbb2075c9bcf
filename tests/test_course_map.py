"""The course map (book/course_map.py → book/images/course-map.svg) agrees with _toc.yml."""

import importlib.util

import yaml

from tests.notebook_tools import ROOT


def _course_map():
    spec = importlib.util.spec_from_file_location("course_map", ROOT / "book" / "course_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_map_parts_are_the_toc_parts_of_the_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapter_parts = [
        part["caption"]
        for part in toc["parts"]
        if any(entry["file"].startswith("chapters/") for entry in part["chapters"])
    ]
    assert [caption for caption, *_ in _course_map().PARTS] == chapter_parts


def test_course_map_svg_names_every_part():
    svg = (ROOT / "book" / "images" / "course-map.svg").read_text()
    for caption, *_ in _course_map().PARTS:  # text is drawn as paths, but matplotlib keeps it in a comment
        assert caption in svg, f"course-map.svg is stale: run python book/course_map.py ({caption!r} missing)"
