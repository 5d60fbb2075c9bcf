"""Small fixes to the pages Jupyter Book 1.x writes (loaded through _config.yml's sphinx.local_extensions).

- Each script is included once. sphinx-thebe registers its configuration script and
  sphinx-thebe.js twice under Sphinx 7, and the second copy fails in the browser with
  "Identifier 'THEBE_JS_URL' has already been declared".
- The bibliography is a list a screen reader can read. docutils writes citations as
  `<div role="list" class="citation-list">` holding `<div class="citation" role="doc-biblioentry">`;
  `doc-biblioentry` is deprecated in WAI-ARIA 1.2 and not a list item, so axe-core reports
  `aria-required-children` (critical), `aria-deprecated-role` and `aria-allowed-role` on the
  references page. Each entry becomes `role="listitem"`.
- One search box and no empty header bar. pydata-sphinx-theme 0.17 fills its header bar with a
  second "Search Ctrl+K" field (it sets `navbar_persistent` to `search-button-field` when the option
  is unset), above the search field sphinx-book-theme 1.3 puts in the sidebar; the bar is otherwise
  empty. `navbar_persistent` is set to nothing and static/page_fixes.css hides the empty bar (the
  element stays: the themes' scripts measure it). The sidebar's field and Ctrl+K still search.
"""
from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _one_search_box(app, config) -> None:
    config.html_theme_options = {**(config.html_theme_options or {}), "navbar_persistent": []}
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def _include_each_script_once(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:  # Sphinx's _JavaScript objects; an inline copy has filename None or ""
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _bibliography_entries_are_list_items(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("config-inited", _one_search_box)
    app.add_css_file("page_fixes.css")
    app.connect("html-page-context", _include_each_script_once, priority=900)
    app.connect("html-page-context", _bibliography_entries_are_list_items)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
