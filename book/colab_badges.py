"""Put an "Open in Colab" badge right under the title of every chapter in solutions/.

    python book/colab_badges.py          # then `make release` and commit solutions/ and chapters/

The badge links to the chapter's student notebook (chapters/NN_slug/NN_slug.ipynb) on Colab; the
address comes from `repository.url` and `repository.branch` in _config.yml, the one place it lives.
The image is book/images/colab-badge.svg, embedded as a data URI so that it shows without a
network and wherever the notebook is opened: the website, JupyterLab, Colab, GitHub. The badge is
an HTML <a><img></a>: MyST (markdown-it) refuses SVG data URIs in Markdown image syntax.
If the title cell holds more than the title, the rest moves to a cell after the badge.
Running the script again refreshes the badges (after a change of repository address, say).
"""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from instructor.notebooks import normalize  # noqa: E402  (cell ids follow cell positions)

BADGE_SVG = ROOT / "book" / "images" / "colab-badge.svg"
BADGE_PREFIX = '<a href="https://colab.research.google.com/github/'


def repository() -> tuple[str, str]:
    """(url, branch) from _config.yml, e.g. ("https://github.com/org/repo", "main")."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_url(chapter: str) -> str:
    """The Colab address of chapters/<chapter>/<chapter>.ipynb on the repository's branch."""
    url, branch = repository()
    org_repo = url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/chapters/{chapter}/{chapter}.ipynb"


def badge_markdown(chapter: str) -> str:
    image = base64.b64encode(BADGE_SVG.read_bytes()).decode("ascii")
    return (f'<a href="{colab_url(chapter)}"><img src="data:image/svg+xml;base64,{image}" '
            f'alt="Open in Colab" width="117" height="20"></a>')


def is_badge_cell(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.startswith(BADGE_PREFIX)


def add_badge(path: Path) -> bool:
    """Insert or refresh the badge cell after the title cell; return True if the file changed."""
    chapter = path.stem
    nb = nbformat.read(path, as_version=4)
    source = badge_markdown(chapter)
    title = nb.cells[0]
    if not (title.cell_type == "markdown" and title.source.startswith("# ")):
        raise ValueError(f"{path}: the first cell must be the chapter's title ('# N. Title')")
    changed = False
    heading, _, rest = title.source.partition("\n")
    if rest.strip():  # keep the title alone in its cell so that the badge sits right under it
        title.source = heading
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(rest.strip("\n")))
        changed = True
    if len(nb.cells) > 1 and is_badge_cell(nb.cells[1]):
        if nb.cells[1].source != source:
            nb.cells[1].source, changed = source, True
    else:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(source))
        changed = True
    if changed:
        nbformat.write(normalize(nb), path)
    return changed


def main() -> None:
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        if path.stem == path.parent.name and add_badge(path):
            print(f"badge written in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
