"""The reconstruction attack (``reconstruction.py``) over every published row of a demo
locality: five practices of very different sizes in three neighbourhoods (``attack_world``),
through the real ``wraparound indicators`` run and the real public pages.

The attacker fetches the public index, every practice page and its CSV, and reads every
row of the published tables (``public/``: indicator values at every level and month,
values by deprivation quintile, outcomes). For each row they enumerate the true (numerator,
denominator) pairs consistent with the rounded counts, the suppression rule, the shown
value and interval, and every total the row can be differenced against. No count of 1-7
and no exact count may come out, and no row may leave a single pair.

A control shows the attack has teeth: on the same world, figures published the old way
(values calculated from the true counts) give pairs away, as the issue found.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from attack_world import split_locality
from django.test import Client
from django.urls import reverse
from reconstruction import Published, attack
from scorecard_world import csv_rows, html_table

from wraparound.analytics import disclosure, results
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import load
from wraparound.apps.scorecard.public_views import NOT_PUBLISHED
from wraparound.apps.scorecard.tables import SUPPRESSED
from wraparound.warehouse.store import Warehouse

# Once, on SQLite: the figures attacked are the indicator run's (DuckDB), which the app only
# stores and serves; the database cannot change what they give away.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app"), pytest.mark.one_database]


@pytest.fixture(scope="module")
def attack_warehouse(small_warehouse, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("attack") / "warehouse"
    shutil.copytree(small_warehouse, root, ignore=shutil.ignore_patterns("results"))
    split_locality(root)
    run_indicators(root)
    return root


@pytest.fixture(scope="module")
def orgs(attack_warehouse) -> pl.DataFrame:
    return pl.from_arrow(Warehouse(attack_warehouse).read("organisations"))


@pytest.fixture
def run_dir(attack_warehouse, orgs, django_db_setup) -> Path:
    """The run loaded as refresh loads it, with the new practices, in this test's
    transaction (rolled back afterwards)."""
    for kind in ("locality", "neighbourhood", "practice"):
        for org in orgs.filter(pl.col("kind") == kind).iter_rows(named=True):
            Organisation.objects.get_or_create(
                org_id=org["org_id"],
                defaults={"name": org["name"], "kind": kind, "parent_id": org["parent_id"]},
            )
    run_dir = results.latest_run(attack_warehouse, "indicators")
    load.load_run(run_dir)
    return run_dir


def _definitions(run_dir: Path) -> dict[str, dict]:
    return {d["id"]: d for d in json.loads((run_dir / "definitions.json").read_text())}


def _value_rows(frame: pl.DataFrame, definitions: dict, where: str) -> list[Published]:
    rows = []
    for r in frame.iter_rows(named=True):
        d = definitions[r["indicator_id"]]
        rows.append(
            Published(
                key=(r["indicator_id"], r["period"], r["subgroup"]),
                level=r["level"],
                org_id=r["org_id"],
                parent_id=r["parent_id"],
                kind=d["type"],
                multiplier=d["multiplier"],
                numerator=r["numerator"],
                denominator=r["denominator"],
                suppressed=bool(r["suppressed"]),
                value=r["value"],
                interval=None if r["lower95"] is None else (r["lower95"], r["upper95"]),
                where=where,
            )
        )
    return rows


def _quintile_rows(frame: pl.DataFrame, definitions: dict, locality: str) -> list[Published]:
    frame = frame.with_columns(
        subgroup=pl.col("subgroup") + "/imd" + pl.col("imd_quintile").cast(pl.String),
        parent_id=pl.when(pl.col("level") == "neighbourhood").then(pl.lit(locality)),
    )
    return _value_rows(frame, definitions, "inequalities ")


def _joint_quintile_rows(frame: pl.DataFrame, definitions: dict, locality: str):
    """Quintile rows as parts of the indicator values' rows: a neighbourhood's (or the
    locality's) five quintiles sum to its row, and each neighbourhood quintile is also part
    of the locality's quintile (every patient in the demo has a deprivation quintile)."""
    rows = _value_rows(
        frame.with_columns(
            parent_id=pl.col("org_id"),
            org_id=pl.col("org_id") + "/q" + pl.col("imd_quintile").cast(pl.String),
        ),
        definitions,
        "joint ",
    )
    for row in rows:
        row.breakdown = "imd"
        if row.level == "neighbourhood":
            row.also_part_of = (f"{locality}/{row.org_id.split('/')[1]}",)
    return rows


def _outcome_rows(frame: pl.DataFrame, locality: str) -> list[Published]:
    rows = []
    for r in frame.iter_rows(named=True):
        rows.append(
            Published(
                key=(r["measure"], r["period"], "all"),
                level=r["level"],
                org_id=r["org_id"],
                parent_id=locality if r["level"] == "neighbourhood" else None,
                kind="crude_rate",
                multiplier=1000.0,
                numerator=r["events"],
                denominator=r["person_years"],
                suppressed=bool(r["suppressed"]),
                value=r["rate_per_1000"],
                where="outcomes ",
            )
        )
    return rows


def _number(cell: str) -> float | None:
    return None if cell in ("", SUPPRESSED) else float(cell)


def _page_rows(client, ods: str, parent: str, definitions: dict) -> list[Published]:
    """Every row of a practice's public page (and its CSV, which must be the same table)."""
    page = client.get(reverse("public_practice", args=[ods]))
    assert page.status_code == 200 and disclosure.RULE in page.content.decode()
    table = html_table(page, "public-figures")
    assert csv_rows(client.get(reverse("public_practice_csv", args=[ods]))) == table
    by_title = {d["title"]: d for d in definitions.values()}
    rows = []
    for cells in table[1:]:
        d = by_title[cells[0]]
        interval = None
        if " to " in cells[6]:
            interval = tuple(cells[6].split(" to "))
        value = cells[4]
        rows.append(
            Published(
                key=(d["id"], cells[1], "all"),
                level="practice",
                org_id=ods,
                parent_id=parent,
                kind=d["type"],
                multiplier=d["multiplier"],
                numerator=_number(cells[2]),
                denominator=_number(cells[3]),
                suppressed=cells[2] == SUPPRESSED,
                value=None if value in (SUPPRESSED, NOT_PUBLISHED) else value,
                interval=interval,
                digits=1,
                where="page ",
            )
        )
    return rows


def _report(name: str, finding) -> str:
    return (
        f"{name}: {finding.rows} rows attacked, {len(finding.pairs_unique)} with one pair, "
        f"{len(finding.counts_recovered)} counts recovered ({len(finding.small_recovered)} "
        f"of 1-7), {finding.zeros_shown} zeros shown"
    )


def test_no_published_row_gives_a_count_away(run_dir, orgs, record_property):
    definitions = _definitions(run_dir)
    locality = orgs.filter(pl.col("kind") == "locality")["org_id"][0]
    parent = dict(zip(orgs["org_id"], orgs["parent_id"], strict=True))
    client = Client()
    index = client.get(reverse("public_practices")).content.decode()
    practices = sorted(set(re.findall(r'href="/public/practices/([^/"]+)/"', index)))
    assert len(practices) == 5
    public = run_dir / "public"
    values = _value_rows(pl.read_parquet(public / "indicator_values.parquet"), definitions, "")
    page_rows = [r for ods in practices for r in _page_rows(client, ods, parent[ods], definitions)]
    assert len(page_rows) >= 5 * 10
    assert any(r.suppressed for r in page_rows) and any(not r.suppressed for r in page_rows)
    findings = {
        "public pages and CSVs": attack(page_rows, context=values),
        "public/indicator_values.parquet": attack(values),
        "public/inequalities.parquet": attack(
            _quintile_rows(pl.read_parquet(public / "inequalities.parquet"), definitions, locality)
        ),
        "public/outcomes.parquet": attack(
            _outcome_rows(pl.read_parquet(public / "outcomes.parquet"), locality)
        ),
        "indicator values and quintiles together": attack(
            values
            + _joint_quintile_rows(
                pl.read_parquet(public / "inequalities.parquet"), definitions, locality
            )
        ),
    }
    lines = [_report(name, f) for name, f in findings.items()]
    total = sum(f.rows for f in findings.values())
    recovered = sum(f.recovered for f in findings.values())
    summary = f"published rows attacked: {total}, counts recovered: {recovered}"
    print("\n" + "\n".join([*lines, summary]))
    record_property("reconstruction_attack", summary)
    for name, f in findings.items():
        assert not f.small_recovered, (name, f.small_recovered[:5])
        assert not f.counts_recovered, (name, f.counts_recovered[:5])
        assert not f.pairs_unique, (name, f.pairs_unique[:5])


def _published_the_old_way(run_dir: Path) -> pl.DataFrame:
    """Rounded and suppressed counts beside values calculated from the true counts: what
    was published before rule 3 (the issue's finding)."""
    exact = pl.read_parquet(run_dir / "indicator_values.parquet").filter(pl.col("publishable"))
    return disclosure.disclose(exact, disclosure.COUNTS, disclosure.DERIVED)


def test_the_attack_recovers_counts_from_values_of_true_counts(run_dir, record_property):
    """The control: the same attack on the old publication finds exact pairs, on full
    precision values and on values rounded to one decimal as a page shows them."""
    definitions = _definitions(run_dir)
    old = _published_the_old_way(run_dir)
    latest = old.filter(
        (pl.col("level") == "practice")
        & (pl.col("subgroup") == "all")
        & (pl.col("period") == pl.col("period").max().over("indicator_id"))
    )
    precise = attack(_value_rows(old, definitions, ""))
    as_shown = _value_rows(latest, definitions, "page ")
    for row in as_shown:
        row.digits = 1
        if isinstance(row.value, float):
            row.value = f"{row.value:.1f}"
        if row.interval is not None:
            row.interval = tuple(f"{v:.1f}" for v in row.interval)
    page = attack(as_shown, context=_value_rows(old, definitions, ""))
    percentage_rows = sum(
        1 for r in as_shown if r.kind == "proportion" and not r.suppressed and r.value
    )
    record_property("old_way", f"{_report('all rows', precise)}; {_report('page rows', page)}")
    print(f"\nold way: {_report('all rows', precise)}")
    print(f"old way: {_report('page rows', page)} of {percentage_rows} percentage rows")
    assert len(precise.pairs_unique) > 0
    assert len(page.pairs_unique) > 0
