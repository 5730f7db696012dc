"""The docs hold together: relative links and anchors resolve, repo paths they name exist, tables are well formed."""

import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")
REPO_DIRS = ("pevl/", "tests/", "configs/", "flows/", "benchmarks/", "docker/", "schemas/", "pose_extraction/")
# a folder/ or a file.ext, so that a deployment name such as `pevl/full-pipeline` is not taken for a path
PATH_TOKEN = re.compile(r"^[A-Za-z0-9_./{},*-]+(/|\.[A-Za-z0-9*]+)$")
USER_FILES = {"docker/.env"}  # files the user creates (git-ignored), named by the docs on purpose


def prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks (fenced lines become empty, so numbers stay)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page.read_text()):
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if not match:
            continue
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside code."""
    out = []
    for number, line in enumerate(prose_lines(page.read_text()), 1):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            out.append((number, match.group(1) or match.group(2)))
    return out


def is_external(target: str) -> bool:
    """A link this test does not follow (web addresses, mail)."""
    return re.match(r"^[a-z][a-z0-9+.-]*:", target) is not None


def test_docs_exist_and_readme_is_short():
    """The front page stays a front page; the docs index is there."""
    assert (ROOT / "docs" / "README.md").is_file()
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    """Every relative link names an existing file, and its #anchor a heading of that file."""
    broken = []
    for number, target in links(page):
        if is_external(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{page.name}:{number}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{page.name}:{number}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


def expand(token: str) -> list[str]:
    """A path token with {a,b} alternatives as the plain paths it stands for."""
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    return [p for alt in match.group(1).split(",") for p in expand(token[:match.start()] + alt + token[match.end():])]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_named_in_code_spans_exist(page: Path):
    """`pevl/...`, `tests/...`, `configs/...` and the like, quoted in the text, are files or folders of the repo."""
    missing = []
    for number, line in enumerate(prose_lines(page.read_text()), 1):
        for span in CODE_SPAN.findall(line):
            token = span.strip("`").split(" ")[0].rstrip(".,:;")
            if not token.startswith(REPO_DIRS) or not PATH_TOKEN.match(token) or token in USER_FILES:
                continue
            for path in expand(token):
                if not glob.glob(str(ROOT / path)):
                    missing.append(f"{page.name}:{number}: {path}")
    assert not missing, "\n".join(missing)


def cells(row: str) -> int:
    """Number of cells in a table row, ignoring pipes inside code spans and escaped pipes."""
    row = CODE_SPAN.sub("x", row.strip()).replace("\\|", "x")
    return row.strip("|").count("|") + 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tables_have_a_delimiter_row_and_even_rows(page: Path):
    """Each table: a header, a |---| row of as many cells, and body rows of that width."""
    bad, lines = [], prose_lines(page.read_text())
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("|"):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            i += 1
        table = lines[start:i]
        width = cells(table[0])
        if len(table) < 2 or not re.match(r"^\s*\|(\s*:?-+:?\s*\|)+\s*$", table[1]) or cells(table[1]) != width:
            bad.append(f"{page.name}:{start + 1}: no delimiter row of {width} cells")
            continue
        bad += [f"{page.name}:{start + k + 1}: {cells(row)} cells, header has {width}"
                for k, row in enumerate(table[2:], 2) if cells(row) != width]
    assert not bad, "\n".join(bad)
