"""Docs that cannot go stale: every CLI command, configuration setting, indicator definition
field and URL name is documented, and the generated pages (docs/cli.md, docs/urls.md) are
exactly what scripts/docs_reference.py writes from the code. Each check is also shown to
catch the omission it exists for."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from wraparound import config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCRIPT = ROOT / "scripts" / "docs_reference.py"
DEFINITION = ROOT / "src" / "wraparound" / "analytics" / "indicators" / "definition.py"


def _script():
    spec = importlib.util.spec_from_file_location("docs_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


# --- CLI ----------------------------------------------------------------------------------


def test_every_cli_command_has_a_section_in_docs_cli():
    names = [name for name, _ in _script().commands()]
    assert {"wraparound synth", "wraparound app serve", "wraparound audit verify"} <= set(names)
    page = (DOCS / "cli.md").read_text()
    missing = [n for n in names if f"## `{n}`\n" not in page]
    assert not missing, f"docs/cli.md lacks {missing}: run scripts/docs_reference.py"


def test_the_generated_pages_are_what_the_script_writes():
    done = _run_script("--check")
    assert done.returncode == 0, done.stderr


def test_a_stale_page_is_caught(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    page = docs / "cli.md"
    text = page.read_text()
    section = re.search(r"## `wraparound audit verify`\n\n```text\n.*?```\n\n?", text, re.S)
    page.write_text(text.replace(section.group(0), ""))
    done = _run_script("--check", "--docs", str(docs))
    assert done.returncode == 1
    assert "stale: cli.md" in done.stderr
    assert "## `wraparound audit verify`" not in page.read_text()  # --check changes nothing


# --- configuration -----------------------------------------------------------------------


def test_every_setting_is_in_docs_configuration():
    page = (DOCS / "configuration.md").read_text()
    envs = [s.env for s in config.SETTINGS]
    assert "WRAPAROUND_PSEUDONYM_KEY" in envs and "DATABASE_URL" in envs
    missing = [e for e in envs if f"| `{e}` |" not in page]
    assert not missing, f"docs/configuration.md lacks {missing}: paste config.reference() in"
    assert config.reference() in page
    assert "| `WRAPAROUND_NO_SUCH_SETTING` |" not in page  # the test can tell absence


# --- indicator definition fields ---------------------------------------------------------


def _strings(node) -> set[str]:
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return {
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        }
    return set()


def definition_fields() -> set[str]:
    """Every TOML key and operator definition.py accepts: the ``_*_KEYS``, ``_COMPARISONS``
    and operator sets, and every key set passed to ``check.keys`` (read from the source, so a
    key added anywhere in the format is found)."""
    fields: set[str] = set()
    for node in ast.walk(ast.parse(DEFINITION.read_text())):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and (
                target.id.endswith("_KEYS")
                or target.id in {"_COMPARISONS", "patient_ops", "event_ops"}
            ):
                fields |= _strings(node.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys"
            and len(node.args) >= 2
        ):
            fields |= _strings(node.args[1])
    return fields


def documented_field(key: str, page: str) -> bool:
    """``key`` appears in the page as a field: in a code span of its own, as ``key =`` or
    ``[key]``, or in an ``a/b/c`` list of alternatives."""
    k = re.escape(key)
    return bool(
        re.search(rf"`{k}`", page)
        or re.search(rf"(?<![\w.]){k}\s*=", page)
        or re.search(rf"\[{k}\]", page)
        or re.search(rf"(?<![\w.]){k}/|/{k}(?![\w])", page)
    )


def test_the_field_scan_finds_every_kind_of_field():
    fields = definition_fields()
    # top level, denominator, numerator, window, comparison, operator, events filter
    for key in ("review_date", "person_time", "median_of", "ever", "below", "app_event", "hub"):
        assert key in fields, f"the scan of definition.py no longer finds {key!r}"


def test_every_indicator_definition_field_is_in_docs_indicators():
    page = (DOCS / "indicators.md").read_text()
    missing = sorted(k for k in definition_fields() if not documented_field(k, page))
    assert not missing, f"docs/indicators.md does not describe {missing}"


def test_an_undocumented_field_is_caught():
    page = (DOCS / "indicators.md").read_text()
    assert documented_field("within_months", page)
    assert not documented_field("within_weeks", page)
    assert not documented_field("month", "`within_months = 12`")  # part of a word is not it


# --- URLs --------------------------------------------------------------------------------


def test_every_url_name_has_a_purpose_and_every_purpose_a_url():
    script = _script()
    names = [name for name, _ in script.urls()]
    assert {"home", "fhir_slot_search", "access_find", "scorecard", "public_practice"} <= set(names)
    undescribed, orphans = script.undescribed_urls()
    assert not undescribed, f"docs/urls.toml has no purpose for {undescribed}"
    assert not orphans, f"docs/urls.toml describes URLs that do not exist: {orphans}"
    page = (DOCS / "urls.md").read_text()
    assert all(f"| `{n}` |" in page for n in names)


def test_an_undescribed_url_is_caught():
    import wraparound.web.urls as real

    urlconf = types.ModuleType("docs_test_urls")
    urlconf.urlpatterns = [
        *real.urlpatterns,
        path("new-page/", lambda request: HttpResponse("x"), name="new_page"),
    ]
    sys.modules[urlconf.__name__] = urlconf
    try:
        with override_settings(ROOT_URLCONF=urlconf.__name__):
            script = _script()
            assert script.undescribed_urls() == (["new_page"], [])
            assert "| `new_page` | `/new-page/` | **undescribed" in script.url_reference()
    finally:
        del sys.modules[urlconf.__name__]


# --- the doc list ------------------------------------------------------------------------


def test_every_docs_page_is_linked_from_the_readme_and_architecture_links_resolve():
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"README.md's documentation list lacks {unlinked}"
    architecture = (DOCS / "architecture.md").read_text()
    broken = [
        t for t in re.findall(r"\]\(([\w.-]+\.md)\)", architecture) if not (DOCS / t).exists()
    ]
    assert not broken, f"docs/architecture.md links pages that do not exist: {broken}"
