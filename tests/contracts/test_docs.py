"""The README and docs/: every relative link reaches a file (and a heading), every Python block's imports import,
and the generated tables are what experiments/render_results.py renders. Cheap: no TensorFlow is loaded here."""

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
IMPORT = re.compile(r"^(?:from\s+[\w.]+\s+import\s+[\w\s,()*]+|import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)\s*(?:#.*)?$")


def _ids(pages):
    return [str(page.relative_to(ROOT)) for page in pages]


def _prose(text: str) -> str:
    """The page without its fenced code blocks (a link inside code is not a link)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(page.read_text()), re.MULTILINE)
    found, seen = set(), {}
    for heading in headings:
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def test_the_pages_exist():
    names = {page.name for page in PAGES[1:]}
    expected = {"encoders.md", "cli.md", "collections.md", "report.md", "save-format.md", "architecture.md",
                "results.md", "benchmarks.md", "defaults.md", "reading.md", "suite.md", "python.md"}
    assert expected <= names
    readme = (ROOT / "README.md").read_text()
    assert all(f"docs/{name}" in readme for name in expected), "the README links every page"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_relative_link_reaches_a_file_and_a_heading(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def _python_blocks(page: Path) -> list[str]:
    return [body for info, body in FENCE.findall(page.read_text())
            if info.strip().split(" ")[0] == "python" and "not-runnable" not in info]


def _imports(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if IMPORT.match(line.strip())]


PYTHON_PAGES = [page for page in PAGES if _python_blocks(page)]


def test_the_import_lines_are_found():
    """The check below checks something: the README's example imports Pipeline."""
    assert "from cae_sim import Pipeline" in _imports(_python_blocks(ROOT / "README.md")[0])


@pytest.mark.slow
def test_every_python_block_imports():
    """Each ```python block's import lines (and only those) run in one fresh interpreter, block by block."""
    statements = []
    for page in PYTHON_PAGES:
        for number, block in enumerate(_python_blocks(page)):
            for line in _imports(block):
                statements.append((f"{page.relative_to(ROOT)} block {number + 1}", line))
    assert statements
    program = "import sys\nfailed = []\n"
    for where, line in statements:
        program += f"try:\n    {line.split('#')[0].strip()}\nexcept Exception as error:\n" \
                   f"    failed.append({where!r} + ': ' + {line!r} + ': ' + repr(error))\n"
    program += "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_generated_tables_are_committed_as_rendered():
    """`python experiments/render_results.py` would change nothing."""
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "render_results.py"), "--check"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_a_generated_block_is_rendered_from_its_file(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import render_results
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    monkeypatch.setattr(render_results, "RESULTS", tmp_path)
    page = "before\n<!-- generated: copy_matching -->\nstale\n<!-- end generated -->\nafter\n"
    text = render_results.rendered(page)
    assert text.startswith("before\n") and text.endswith("<!-- end generated -->\nafter\n")
    assert "stale" not in text and "copy_matching.json` is not committed" in text
    assert render_results.rendered(text) == text


def test_every_command_and_option_is_documented():
    """Each command has a row in the README's table, and each of its options is on docs/cli.md."""
    import argparse

    from cae_sim import cli

    readme, page = (ROOT / "README.md").read_text(), (ROOT / "docs" / "cli.md").read_text()
    missing = []
    for module in cli.COMMANDS:
        name = module.__name__.rpartition(".")[2]
        if not re.search(rf"^\| `{name}[ `]", readme, re.MULTILINE):
            missing.append(f"README: no row for {name}")
        parser = argparse.ArgumentParser(add_help=False)
        cli._add_arguments(parser, module)
        section = page.split(f"\n### {name}\n", 1)[-1].split("\n### ", 1)[0] if f"\n### {name}\n" in page else ""
        for action in parser._actions:
            for option in action.option_strings:
                if option not in section:
                    missing.append(f"docs/cli.md: {name} {option}")
    assert not missing, "; ".join(missing)
