"""Small fixes to the pages Jupyter Book 1.x writes (loaded through _config.yml's sphinx.local_extensions).

- Each script is included once. sphinx-thebe registers its configuration script and
  sphinx-thebe.js twice under Sphinx 7, and the second copy fails in the browser with
  "Identifier 'THEBE_JS_URL' has already been declared".
"""
from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _include_each_script_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
