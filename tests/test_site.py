"""The website: `jupyter-book build -W -n` passes (fast mode, as CI builds it), chapter pages show executed
demos and the exercises as code but never a solution or a hidden test, launch buttons come from
_config.yml, the site needs no CDN, citations resolve; plus the publishing workflow."""

import html
import re
from pathlib import Path

import pytest
import yaml

from tests.notebook_tools import ROOT, chapter_ids, load, page_text
from tests.site_tools import build_site, config, html_pages, repository, secret_lines

CHAPTERS = chapter_ids()
FRONT_MATTER = ["intro", "book/getting_started", "book/instructors", "book/references"]
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_site(tmp_path_factory)


def _chapter_page(site: Path, chapter: str) -> Path:
    return site / "chapters" / chapter / f"{chapter}.html"


# --- fast checks of the sources -------------------------------------------------------------------


def test_toc_has_the_front_matter_and_every_page_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    for page in FRONT_MATTER:
        assert page in files, f"_toc.yml lacks {page}"
    for page in files:
        assert list(ROOT.glob(f"{page}.*")), f"_toc.yml lists {page}, which does not exist"


def test_every_citation_is_in_references_bib():
    keys = set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(encoding="utf-8")))
    assert {"bahdanau2015", "luong2015", "vaswani2017"} <= keys
    for chapter in CHAPTERS:
        cited = {
            key.strip()
            for cell in load("solutions", chapter).cells
            if cell.cell_type == "markdown"
            for group in CITE.findall(cell.source)
            for key in group.split(",")
        }
        assert cited, f"{chapter} cites no paper with {{cite}}"
        assert cited <= keys, f"{chapter} cites keys missing from references.bib: {sorted(cited - keys)}"


def test_pages_workflow_builds_with_make_book_and_deploys():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    uses = [step.get("uses", "").split("@")[0] for step in build["steps"]]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"] and "actions/upload-pages-artifact" in uses
    assert any(step.get("run", "").strip() == "make book" for step in build["steps"])
    upload = next(step for step in build["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [step["uses"].split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]


# --- the built site (slow) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_front_matter_pages_are_built(site):
    for page in FRONT_MATTER:
        assert (site / f"{page}.html").exists(), f"{page}.html was not built"
    intro = (site / "intro.html").read_text(encoding="utf-8")
    assert re.search(r'<img[^>]+src="_images/course-map\.svg"', intro), "the welcome page shows the course map"
    for chapter in CHAPTERS:
        assert f"chapters/{chapter}/{chapter}.html" in intro, f"the welcome page's contents link to {chapter}"
    references = page_text(site / "book" / "references.html").lower()
    for title in [
        "neural machine translation by jointly learning",
        "effective approaches to attention-based",
        "attention is all you need",
    ]:
        assert title in references, f"the references page lists {title!r}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_has_no_solution_or_hidden_test(site, chapter):
    page = page_text(_chapter_page(site, chapter))
    secret = secret_lines(chapter)
    assert len(secret) >= 5
    leaked = [line for line in secret if line in page]
    assert not leaked, f"the site shows solution or hidden-test code: {leaked[:3]}"
    assert "# YOUR CODE HERE" in page, "exercise starter code is shown"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_shows_executed_demos(site, chapter):
    raw = _chapter_page(site, chapter).read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', raw)
    demos = [
        c
        for c in load("chapters", chapter).cells
        if c.cell_type == "code" and "skip-execution" not in c.metadata.get("tags", []) and "plt.show()" in c.source
    ]
    assert len(images) >= len(demos), f"{len(demos)} demo cells show a figure, the page has {len(images)} images"
    for src in images:
        assert (_chapter_page(site, chapter).parent / src).resolve().exists(), f"missing image {src}"
    text = page_text(_chapter_page(site, chapter))
    assert "NotImplementedError" not in text.replace("raise NotImplementedError()", ""), (
        "no exercise stub was executed on the site"
    )
    assert "fast mode: True" in text, "the tests build the site in fast mode (the setup cell prints it)"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_exercise_and_test_cells_are_shown_as_code(site, chapter):
    raw = _chapter_page(site, chapter).read_text(encoding="utf-8")
    code = html.unescape(
        re.sub(r"<[^>]+>", "", "\n".join(re.findall(r'<div class="highlight[^"]*"><pre>(.*?)</pre>', raw, re.S)))
    )
    for cell in load("chapters", chapter).cells:
        if cell.cell_type == "code" and "skip-execution" in cell.metadata.get("tags", []):
            first = next(line for line in cell.source.splitlines() if line.strip())
            assert first in code, f"the cell starting {first!r} is not shown as code"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_launch_buttons_and_badge_use_the_configured_repository(site, chapter):
    raw = _chapter_page(site, chapter).read_text(encoding="utf-8")
    url, org_repo, branch = repository()
    launch = config()["launch_buttons"]
    path = f"chapters/{chapter}/{chapter}.ipynb"
    colab = f"{launch['colab_url']}/github/{org_repo}/blob/{branch}/{path}"
    binder = f"{launch['binderhub_url']}/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}"
    links = set(re.findall(r'href="([^"]+)"', raw))
    assert colab in links, f"no Colab launch link {colab}"
    assert binder in links, f"no Binder launch link {binder}"
    assert url in links, "the repository button links to repository.url"
    assert re.search(
        rf'<a href="{re.escape(colab)}"><img src="data:image/svg\+xml;base64,[^"]+" alt="Open in Colab"', raw
    ), "the Colab badge (an embedded SVG) links to the chapter"
    assert re.search(rf'</h1>\s*<p><a href="{re.escape(colab)}"><img ', raw), "the badge sits right under the title"


@pytest.mark.slow
def test_site_loads_nothing_from_a_cdn(site):
    for page in html_pages(site):
        raw = page.read_text(encoding="utf-8")
        scripts = re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', raw)
        styles = [
            href
            for tag in re.findall(r"<link\b[^>]*>", raw)
            if re.search(r'rel="(?:stylesheet|preload|icon)"', tag)
            for href in re.findall(r'href="([^"]+)"', tag)
        ]
        remote = [u for u in scripts + styles if re.match(r"(?:https?:)?//", u)]
        assert not remote, f"{page.relative_to(site)} loads {remote} from the network"
        if 'class="math' in raw:
            assert "_static/mathjax/tex-chtml.js" in raw, f"{page.relative_to(site)} does not use the bundled MathJax"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 500_000
    assert list((site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), (
        "MathJax's fonts are bundled"
    )


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_citations_link_to_the_bibliography(site, chapter):
    raw = _chapter_page(site, chapter).read_text(encoding="utf-8")
    cited = {
        key.strip()
        for cell in load("chapters", chapter).cells
        if cell.cell_type == "markdown"
        for group in CITE.findall(cell.source)
        for key in group.split(",")
    }
    links = re.findall(r'href="\.\./\.\./book/references\.html#([^"]+)"', raw)
    assert len(links) >= len(cited), f"{chapter}: citations do not link to the references page"
    assert "{cite" not in page_text(_chapter_page(site, chapter)), "a {cite} role was left unrendered"
