"""Writes the generated parts of the docs from the code, so they cannot go stale: the CLI
reference in docs/cli.md (every command's help, from the typer app) and the URL table in
docs/urls.md (every named URL from Django's resolver, with its purpose from docs/urls.toml).

    .venv/bin/python scripts/docs_reference.py          # rewrite both pages
    .venv/bin/python scripts/docs_reference.py --check  # exit 1 naming the stale page
    .venv/bin/python scripts/docs_reference.py --check --docs DIR  # another docs folder

tests/unit/test_docs_complete.py runs ``--check``. The output is deterministic: help is
rendered by click's plain formatter (no rich, no colour) at a fixed width of 100 columns.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
URL_PURPOSES = DOCS / "urls.toml"
WIDTH = 100
CLI_MARKERS = ("<!-- cli:start -->", "<!-- cli:end -->")
URL_MARKERS = ("<!-- urls:start -->", "<!-- urls:end -->")


def commands() -> list[tuple[str, object]]:
    """Every command and group of ``wraparound``, depth first, as (full name, click command)."""
    import typer.main

    from wraparound.cli import app

    found: list[tuple[str, object]] = []

    def walk(cmd, name: str) -> None:
        found.append((name, cmd))
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{name} {sub_name}")

    walk(typer.main.get_command(app), "wraparound")
    return found


def cli_reference() -> str:
    """The markdown between docs/cli.md's markers: one section per command with its help."""
    import click
    import typer.core

    typer.core.HAS_RICH = False  # click's plain formatter: the same text on every terminal
    out = []
    for name, cmd in commands():
        parent = None
        for part in name.split()[:-1]:
            parent = click.Context(click.Command(part), info_name=part, parent=parent)
        ctx = click.Context(
            cmd,
            info_name=name.split()[-1],
            parent=parent,
            terminal_width=WIDTH,
            max_content_width=WIDTH,
            color=False,
        )
        help_text = "\n".join(line.rstrip() for line in cmd.get_help(ctx).splitlines())
        out.append(f"## `{name}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(out)


def urls() -> list[tuple[str, str]]:
    """Every named URL pattern of the URL map (include()d apps too), as (name, route), in
    resolver order, each name once."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wraparound.web.settings")
    import django

    django.setup()
    from django.urls import URLPattern, URLResolver, get_resolver

    seen: dict[str, str] = {}

    def walk(patterns, prefix: str, ns: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = f"{ns}{p.namespace}:" if p.namespace else ns
                walk(p.url_patterns, prefix + str(p.pattern), inner)
            elif isinstance(p, URLPattern) and p.name:
                seen.setdefault(ns + p.name, "/" + prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "", "")
    return list(seen.items())


def url_purposes() -> dict[str, str]:
    """docs/urls.toml: ``name = "what the page or endpoint is for"``, written by hand."""
    return tomllib.loads(URL_PURPOSES.read_text())


def undescribed_urls() -> tuple[list[str], list[str]]:
    """(URL names with no purpose in docs/urls.toml, purposes naming no URL)."""
    names = [name for name, _ in urls()]
    purposes = url_purposes()
    return [n for n in names if n not in purposes], sorted(set(purposes) - set(names))


def url_reference() -> str:
    """The markdown table between docs/urls.md's markers."""
    purposes = url_purposes()
    lines = ["| Name | Path | Purpose |", "| --- | --- | --- |"]
    for name, route in urls():
        purpose = purposes.get(name, "**undescribed: add it to docs/urls.toml**")
        purpose = purpose.replace("|", "\\|")
        lines.append(f"| `{name}` | `{route}` | {purpose} |")
    return "\n".join(lines) + "\n"


def splice(page: str, markers: tuple[str, str], body: str) -> str:
    """``page`` with everything between the two markers replaced by ``body``."""
    start, end = markers
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(page):
        raise SystemExit(f"the markers {start} ... {end} are missing")
    return pattern.sub(lambda _: f"{start}\n{body}{end}", page)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    docs = Path(argv[argv.index("--docs") + 1]) if "--docs" in argv else DOCS
    stale = []
    for page, markers, render in (
        (docs / "cli.md", CLI_MARKERS, cli_reference),
        (docs / "urls.md", URL_MARKERS, url_reference),
    ):
        old = page.read_text()
        new = splice(old, markers, render())
        if new != old:
            stale.append(page.name)
            if not check:
                page.write_text(new)
    if check and stale:
        print(
            f"stale: {', '.join(stale)}: run `.venv/bin/python scripts/docs_reference.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
