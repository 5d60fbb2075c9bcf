"""The website in a real browser (slow): Debian's Chromium, headless, driven by Playwright, reads the
built site from a server on 127.0.0.1 while every other address is blocked, as for an offline reader.

On every page: the math is typeset by MathJax (no formula left as raw TeX, no MathJax error), every
image has loaded, the console shows no error, nothing was requested from another host, and no
solution or hidden test is in the page. Every same-origin link answers 200 and every #fragment
exists. Screenshots of the welcome page and of each chapter go to test-artifacts/screenshots/.

Accessibility: axe-core (axe-playwright-python) finds no serious or critical violation on any page,
and no moderate one except the theme's furniture listed in THEME_FURNITURE with the reason; a page
has one search box and no empty header bar; every figure of an enabled chapter
(FIGURE_ALT_CHAPTERS) has an alt text that describes it (not its file path).
"""

from __future__ import annotations

import os
import re
import threading
import urllib.error
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag

import pytest

from tests.notebook_tools import ROOT, chapter_ids, load
from tests.site_tools import build_site, html_pages, secret_lines

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHAPTERS = chapter_ids()

# axe-core violations we cannot fix in our sources: {rule id: (CSS selector fragment, reason)}.
THEME_FURNITURE: dict[str, tuple[str, str]] = {}
BLOCKING = {"serious", "critical"}
# Chapters whose figures must all carry a description (cell metadata mystnb.image.alt). The chapter
# helpers are writing them; the lead adds each chapter here after merging its descriptions.
FIGURE_ALT_CHAPTERS: list[str] = chapter_ids()  # every chapter describes its figures

WAIT_FOR_IMAGES = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 10000);
  })));
}"""
WAIT_FOR_MATHJAX = """async () => {
  if (!document.querySelector(".math")) return;
  const start = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - start < 20000) {
    await new Promise(done => setTimeout(done, 100));
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""
INSPECT = """() => ({
  math: document.querySelectorAll(".math").length,
  untypeset: Array.from(document.querySelectorAll(".math")).filter(m => !m.querySelector("mjx-container"))
                  .map(m => m.textContent.slice(0, 80)),
  typeset: document.querySelectorAll("mjx-container").length,
  mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent.slice(0, 80)),
  brokenImages: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => i.getAttribute("src").slice(0, 80)),
  images: document.images.length,
  badges: Array.from(document.querySelectorAll('a > img[alt="Open in Colab"]'))
               .map(i => ({href: i.parentElement.href, width: i.naturalWidth, shown: i.getBoundingClientRect().width})),
  links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  ids: Array.from(document.querySelectorAll("[id]")).map(e => e.id),
  text: document.documentElement.textContent,
  figures: Array.from(document.querySelectorAll(".cell_output img")).map(i => i.getAttribute("alt")),
  pageImages: Array.from(document.querySelectorAll(".bd-article img")).map(i => ({src: i.getAttribute("src"),
                                                                                   alt: i.getAttribute("alt")})),
  searchFields: Array.from(document.querySelectorAll(".search-button-field, .bd-search input, input[type=search]"))
                     .filter(e => e.getBoundingClientRect().width > 0 && getComputedStyle(e).visibility !== "hidden")
                     .length,
  headerBars: Array.from(document.querySelectorAll("header.bd-header, #pst-header"))
                   .filter(e => e.getBoundingClientRect().height > 0).length,
})"""


def undescribed(alts: list) -> list:
    """The alt texts that do not describe a figure: missing, empty, a file path or a file name."""

    def describes(alt) -> bool:
        alt = (alt or "").strip()
        return (
            len(alt.split()) >= 3
            and "_images/" not in alt
            and "/" not in alt.split()[0]
            and not re.search(r"\.(png|svg|jpe?g|gif)$", alt, re.I)
        )

    return [alt for alt in alts if not describes(alt)]


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the open page: [{id, impact, help, targets}]."""
    from axe_playwright_python.sync_playwright import Axe

    response = Axe().run(page).response
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [" ".join(map(str, node["target"])) for node in v["nodes"]],
        }
        for v in response["violations"]
    ]


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"Debian's Chromium ({CHROMIUM}; `bash .ci/install-browser.sh` installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (`make venv` installs the dev extras)")
    try:
        import axe_playwright_python  # noqa: F401
    except ImportError:
        missing.append("the axe-playwright-python package (`make venv` installs the dev extras)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _require_browser()
    return build_site(tmp_path_factory)


@pytest.fixture(scope="module")
def server(site):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def visits(site, server, tmp_path_factory) -> dict:
    """Open every page once; return {page path: what the browser saw}."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot = {"intro.html": "welcome"} | {f"chapters/{c}/{c}.html": c for c in CHAPTERS}
    seen: dict = {}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        outside: list[str] = []

        def only_local(route):
            if route.request.url.startswith(server):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        for path in html_pages(site):
            name = path.relative_to(site).as_posix()
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda msg, errors=errors: msg.type == "error" and errors.append(msg.text))
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on(
                "response",
                lambda r, errors=errors: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"),
            )
            outside.clear()
            page.goto(server + name, wait_until="load")
            page.wait_for_load_state("networkidle")
            page.evaluate(WAIT_FOR_IMAGES)
            page.evaluate(WAIT_FOR_MATHJAX)
            seen[name] = page.evaluate(INSPECT) | {"errors": list(errors), "outside": list(outside), "url": page.url}
            # After the reader's view is taken: axe-core's CSS preload fetches each stylesheet's @import
            # relative to the page instead of the stylesheet (theme.css's "../basic.css" becomes
            # /basic.css), a 404 of axe's own making that a reader never triggers.
            seen[name]["axe"] = axe_violations(page)
            if name in shoot:
                page.screenshot(path=SCREENSHOTS / f"{shoot[name]}.png")
                page.screenshot(path=SCREENSHOTS / f"{shoot[name]}-full.png", full_page=True)
            page.close()
        context.close()
    return seen


def test_every_page_was_visited(visits):
    assert "intro.html" in visits and "book/references.html" in visits
    for chapter in CHAPTERS:
        assert f"chapters/{chapter}/{chapter}.html" in visits


def test_math_is_typeset_by_the_bundled_mathjax(visits):
    for chapter in CHAPTERS:
        seen = visits[f"chapters/{chapter}/{chapter}.html"]
        has_math = any("$" in cell.source for cell in load("chapters", chapter).cells if cell.cell_type == "markdown")
        assert not has_math or seen["math"] > 0, f"{chapter} has math in its source but none on its page"
    for name, seen in visits.items():
        assert not seen["untypeset"], f"{name}: MathJax left formulas as raw TeX: {seen['untypeset'][:3]}"
        assert not seen["mathErrors"], f"{name}: MathJax could not typeset {seen['mathErrors'][:3]}"
        assert seen["typeset"] >= seen["math"], f"{name}: {seen['math']} formulas, {seen['typeset']} typeset"


def test_every_image_loads(visits):
    for name, seen in visits.items():
        assert not seen["brokenImages"], f"{name}: images that did not load: {seen['brokenImages']}"
    assert visits["intro.html"]["images"] >= 1, "the welcome page shows the course map"
    for chapter in CHAPTERS:
        seen = visits[f"chapters/{chapter}/{chapter}.html"]
        assert seen["images"] >= 2, "the Colab badge and the demo figures"
        (badge,) = seen["badges"]
        assert badge["width"] > 0 and badge["shown"] > 50, f"{chapter}: the Colab badge is not shown: {badge}"
        assert badge["href"].startswith("https://colab.research.google.com/github/")
        assert badge["href"].endswith(f"/chapters/{chapter}/{chapter}.ipynb")


def test_no_console_error_and_nothing_requested_from_another_host(visits):
    for name, seen in visits.items():
        assert not seen["errors"], f"{name}: console errors: {seen['errors'][:5]}"
        assert not seen["outside"], f"{name} requested {seen['outside'][:5]}: the site must work offline"


def test_no_page_shows_a_solution_or_a_hidden_test(visits):
    released = "\n".join(c.source for chapter in CHAPTERS for c in load("chapters", chapter).cells)
    # a hidden line of one chapter may be ordinary visible code of another (torch.manual_seed(seed))
    secrets = [line for chapter in CHAPTERS for line in secret_lines(chapter) if line not in released]
    assert secrets
    for name, seen in visits.items():
        leaked = [line for line in secrets if line in seen["text"]]
        assert not leaked, f"{name} shows solution or hidden-test code: {leaked[:3]}"


def test_every_internal_link_resolves(visits, server):
    targets: dict[str, set[str]] = {}
    for seen in visits.values():
        for href in seen["links"]:
            if href.startswith(server):
                url, fragment = urldefrag(href)
                targets.setdefault(url, set()).add(fragment)
    assert len(targets) > len(visits) // 2, "the pages link to each other"
    ids = {server + name: set(seen["ids"]) for name, seen in visits.items()}
    ids |= {
        server + name.removesuffix("index.html"): found
        for name, found in list(ids.items())
        if name.endswith("index.html")
    }
    for url, fragments in sorted(targets.items()):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 200, f"{url} answers {status}"
        if url in ids:
            missing = sorted(f for f in fragments if f and f not in ids[url])
            assert not missing, f"{url} has no element with id {missing}"


def test_screenshots_are_saved(visits):
    for name in ["welcome"] + CHAPTERS:
        for suffix in ["", "-full"]:
            shot = SCREENSHOTS / f"{name}{suffix}.png"
            assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot {shot}"


def _blocking(violation: dict) -> list[str]:
    """The violation's elements that are not listed theme furniture."""
    allowed = THEME_FURNITURE.get(violation["id"])
    return [t for t in violation["targets"] if not (allowed and allowed[0] in t)]


def test_axe_finds_no_serious_or_critical_violation(visits):
    report = {name: [(v["id"], v["impact"], len(v["targets"])) for v in seen["axe"]] for name, seen in visits.items()}
    print("axe-core violations per page:", report)
    for name, seen in visits.items():
        bad = [(v["id"], v["help"], _blocking(v)[:3]) for v in seen["axe"] if v["impact"] in BLOCKING and _blocking(v)]
        assert not bad, f"{name}: axe-core finds {bad}"


def test_axe_moderate_violations_are_only_listed_theme_furniture(visits):
    for name, seen in visits.items():
        bad = [
            (v["id"], v["help"], _blocking(v)[:3]) for v in seen["axe"] if v["impact"] == "moderate" and _blocking(v)
        ]
        assert not bad, f"{name}: axe-core finds {bad}; fix it, or list theme furniture in THEME_FURNITURE"


def test_one_search_box_and_no_empty_header_bar(visits):
    for name, seen in visits.items():
        if name in ("search.html", "genindex.html"):  # the search page has its own search form
            continue
        assert seen["searchFields"] == 1, f"{name} shows {seen['searchFields']} search boxes"
        assert seen["headerBars"] == 0, f"{name} shows a header bar above the page"


def test_undescribed_tells_a_description_from_a_path():
    assert (
        undescribed(
            [
                "Attention weights of six queries over seven keys, darker is smaller.",
                "Training loss falls from 2.3 to 0.4 over ten epochs",
            ]
        )
        == []
    )
    paths = ["../../_images/4edd0c1f.png", "_images/4edd.png", "", None, "figure.png", "plot"]
    assert undescribed(paths) == paths


def test_the_welcome_page_figure_is_described(visits):
    images = visits["intro.html"]["pageImages"]
    course_map = [i for i in images if i["src"].endswith("course-map.svg")]
    assert course_map and not undescribed([i["alt"] for i in course_map])


@pytest.mark.parametrize("chapter", FIGURE_ALT_CHAPTERS)
def test_every_figure_has_a_description(visits, chapter):
    figures = visits[f"chapters/{chapter}/{chapter}.html"]["figures"]
    assert figures, f"{chapter} shows no figure"
    bad = undescribed(figures)
    assert not bad, (
        f"{chapter}: {len(bad)} of {len(figures)} figures have no description (cell metadata "
        f'"mystnb": {{"image": {{"alt": "..."}}}}): {bad[:3]}'
    )
