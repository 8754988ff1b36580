"""The README and docs/ held to the checkout: the README stays a front page, every repository path and
relative link they name exists (anchors included), every `vidfiqa ...` example in a code block names
a real command with options it has, and the README's two set-up commands are the ones CI runs.
Reads text and walks the click group; loads no model."""

from __future__ import annotations

import glob
import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
#: docs pages that open with a title and a table of contents of their sections.
WITH_TOC = ["guide.md", "models.md", "benchmarks.md", "reliability.md"]
MAX_README_LINES = 250

#: A path in the text that looks like a file of the repository (from its root, as the text writes
#: it): starts with one of the checkout's top folders, not inside another path (``../shared/...``).
REPO_PATH = re.compile(
    r"(?<![\w./~:-])((?:benchmarks|docs|vidfiqa|scripts|configs|sample_videos|tests|\.ci)/[\w./*<>-]*)"
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<img\s[^>]*\bsrc=\"([^\"]+)\"")
FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)^\s*```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _headings(text: str) -> list[str]:
    out, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6} (.+?)\s*#*$", line)):
            out.append(m.group(1))
    return out


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _headings(page.read_text()):
        base = _anchor(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchors.add(base if n == 0 else f"{base}-{n}")
    return anchors


def _prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub("", text)


def test_readme_is_a_front_page() -> None:
    lines = README.read_text().count("\n")
    assert lines < MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("name", WITH_TOC)
def test_docs_pages_open_with_a_title_and_a_table_of_contents(name: str) -> None:
    text = (ROOT / "docs" / name).read_text()
    assert text.startswith("# "), f"docs/{name} must start with a title"
    first_section = text.find("\n## ")
    assert first_section > 0, f"docs/{name} has no sections"
    toc = text[:first_section]
    for heading in _headings(text[first_section:]):
        if heading.startswith("#"):
            continue
        assert f"(#{_anchor(heading)})" in toc, f"docs/{name}: section {heading!r} is not in its contents"


def _repo_paths(page: Path) -> Iterator[str]:
    for match in REPO_PATH.finditer(page.read_text()):
        path = match.group(1).rstrip(".,:;")
        if path.endswith("/..."):
            continue
        yield path


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_repository_paths_named_in_the_text_exist(page: Path) -> None:
    missing = []
    for path in sorted(set(_repo_paths(page))):
        pattern = re.sub(r"<[^>]*>", "*", path)
        found = bool(glob.glob(str(ROOT / pattern))) if "*" in pattern else (ROOT / pattern).exists()
        if not found:
            missing.append(path)
    assert not missing, f"{_rel(page)} names paths the checkout lacks: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for match in LINK.finditer(_prose(page.read_text())):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    assert not broken, f"{_rel(page)} links to what does not exist: {broken}"


def _cli() -> click.Group:
    """The click group behind the ``vidfiqa`` script, wherever the CLI module lives."""
    module = importlib.import_module("vidfiqa.cli.main")
    for name in ("main", "cli"):
        group = getattr(module, name, None)
        if isinstance(group, click.Group):
            return group
    raise AssertionError("vidfiqa.cli.main has no click group named main or cli")


def _commands(text: str) -> Iterator[list[str]]:
    """The token lists of every ``vidfiqa ...`` (or ``python -m vidfiqa ...``) command in text."""
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            continue
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token in {";", "&&", "||", "|", "&"}:
                if segment[:1] == ["vidfiqa"]:
                    yield segment[1:]
                elif segment[:3] == ["python", "-m", "vidfiqa"]:
                    yield segment[3:]
                segment = []
            else:
                segment.append(token)


def _examples() -> Iterator[tuple[str, list[str]]]:
    for page in PAGES:
        text = page.read_text()
        for block in FENCE.findall(text):
            for args in _commands(block):
                yield _rel(page), args
        for span in INLINE_CODE.findall(_prose(text)):
            if span.startswith("vidfiqa "):
                for args in _commands(span):
                    yield _rel(page), args


def _check(group: click.Group, args: list[str]) -> str | None:
    """Why ``vidfiqa ARGS`` is not a valid command line, or None."""
    command: click.Command = group
    words = ["vidfiqa"]
    rest = list(args)
    while isinstance(command, click.Group):
        if not rest or rest[0].startswith("-"):
            return None if rest[:1] in (["--help"], ["--version"]) else f"{' '.join(words)}: no subcommand"
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return f"{' '.join(words)} has no command {name!r}"
        command, words = sub, [*words, name]
    options = {
        opt: param
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    }
    while rest:
        token = rest.pop(0)
        if not token.startswith("-") or token == "-" or re.match(r"^-\d", token):
            continue
        name, has_value = token.split("=", 1)[0], "=" in token
        if name == "--help":
            continue
        param = options.get(name)
        if param is None:
            return f"{' '.join(words)} has no option {name}"
        if not (param.is_flag or param.count or has_value) and rest:
            rest.pop(0)
    return None


def test_vidfiqa_examples_name_real_commands_and_options() -> None:
    group = _cli()
    examples = list(_examples())
    assert any(page == "README.md" for page, _ in examples), "no vidfiqa example found in the README"
    wrong = [
        f"{page}: vidfiqa {' '.join(args)}: {why}" for page, args in examples if (why := _check(group, args))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_readmes_set_up_commands_are_the_ones_ci_runs() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    setup = [
        line.strip()
        for block in FENCE.findall(README.read_text())
        for line in block.splitlines()
        if line.strip().startswith("pip install")
    ]
    assert len(setup) == 2, f"the README's quick start should hold two set-up commands, not {setup}"
    tests = [line for line in setup if line.endswith("&& pytest")]
    assert len(tests) == 1 and tests[0] in ci, f"{tests} is not the test command .ci/run runs"
    install = tests[0].split(" && ")[0]
    assert install.endswith(' -e ".[test]"'), install
    best_frames = next(line for line in setup if line not in tests)
    assert best_frames.startswith(install.removesuffix(' ".[test]"') + " . && vidfiqa best-frames "), (
        f"{best_frames!r} installs differently from CI's {install!r}"
    )
