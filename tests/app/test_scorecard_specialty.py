"""Outpatient attendances by specialty: the practice scorecard's specialty table and the
specialty rows of the outlier report, over a real ``wraparound indicators`` run.

The app tests' locality has one practice, so nothing can be outside a funnel. This module
makes a second practice out of half of its patients (a copy of the warehouse, written
through a warehouse transaction) and sends 60 of the first practice's patients to
dermatology in each of the last three months, so that one practice is deterministically
high and the other low for dermatology. The run is loaded as refresh loads it, inside each
test's transaction (rolled back afterwards, so the other scorecard tests keep theirs).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from django.test import Client
from django.urls import reverse
from scorecard_world import csv_rows, html_table

from wraparound.analytics import results
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.records.models import User
from wraparound.apps.scorecard import figures, load
from wraparound.apps.scorecard.models import IndicatorRun, PublicValue, SubgroupValue
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

INDICATOR = "outpatient_attendances_by_specialty"
TABLE = f"specialty-{INDICATOR}"
SECOND = "P99998"
DERMATOLOGY = "330"
EXTRA_PER_MONTH = 60
STATUS = {"high": "above 99.8% limit", "low": "below 99.8% limit", "within": "within limits"}
STATUS95 = {"high": "above 95% limit", "low": "below 95% limit", "within": "within limits"}


def _fmt(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


def _two_practices(root: Path) -> None:
    """Split the one practice in two and add dermatology attendances to the first."""
    wh = Warehouse(root)
    orgs = pl.from_arrow(wh.read("organisations"))
    regs = pl.from_arrow(wh.read("registrations"))
    encounters = pl.from_arrow(wh.read("encounters"))
    patients = pl.from_arrow(wh.read("patients"))
    first = orgs.filter(pl.col("kind") == "practice").row(0, named=True)
    second = {**first, "id": SECOND, "org_id": SECOND, "name": "Second Street Surgery"}
    moved = sorted(regs["patient_id"].unique().to_list())[1::2]
    regs = regs.with_columns(
        practice_id=pl.when(pl.col("patient_id").is_in(moved))
        .then(pl.lit(SECOND))
        .otherwise(pl.col("practice_id"))
    )
    eligible = patients.filter(pl.col("death_date").is_null() & ~pl.col("opted_out"))
    staying = (
        regs.filter(pl.col("end_date").is_null() & (pl.col("practice_id") == first["org_id"]))
        .join(eligible.select("patient_id"), on="patient_id")["patient_id"]
        .unique()
        .sort()
        .head(EXTRA_PER_MONTH)
        .to_list()
    )
    template = encounters.filter(pl.col("kind") == "outpatient").row(0, named=True)
    extra = []
    for month in (1, 2, 3):
        start = dt.datetime(2026, month, 15, 10, tzinfo=dt.UTC)
        for i, patient_id in enumerate(staying):
            extra.append(
                {
                    **template,
                    "id": f"test-derm-{month}-{i}",
                    "patient_id": patient_id,
                    "start": start,
                    "end": start + dt.timedelta(minutes=20),
                    "status": "attended",
                    "specialty": DERMATOLOGY,
                }
            )
    with wh.transaction({"source": "test: two practices, extra dermatology"}) as tx:
        tx.append(
            "organisations",
            pl.concat([orgs, pl.DataFrame([second], schema=orgs.schema)]).to_arrow(),
        )
        tx.append("registrations", regs.to_arrow())
        tx.append(
            "encounters",
            pl.concat([encounters, pl.DataFrame(extra, schema=encounters.schema)]).to_arrow(),
        )


@pytest.fixture(scope="module")
def specialty_warehouse(small_warehouse, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("specialty") / "warehouse"
    shutil.copytree(small_warehouse, root, ignore=shutil.ignore_patterns("results"))
    _two_practices(root)
    run_indicators(root)
    return root


@pytest.fixture
def run_dir(specialty_warehouse, django_db_setup) -> Path:
    """The run, loaded into this test's database transaction as refresh loads it."""
    run_dir = results.latest_run(specialty_warehouse, "indicators")
    load.load_run(run_dir)
    return run_dir


@pytest.fixture
def ods():
    return User.objects.get(username="gp").scope_org_id


def _values(run_dir: Path, level: str) -> pl.DataFrame:
    values = pl.read_parquet(run_dir / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == INDICATOR) & (pl.col("level") == level)
    )
    return values.filter(pl.col("period") == values["period"].max())


def _latest_outliers(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "outliers.parquet").filter(pl.col("latest"))


def test_the_world_has_a_high_and_a_low_dermatology_outlier(run_dir, ods):
    # This indicator's: the follow-up ratio has its own dermatology rows (the extra
    # attendances are all first attendances, so the second practice's ratio is high).
    outliers = _latest_outliers(run_dir).filter(
        (pl.col("subgroup") == DERMATOLOGY) & (pl.col("indicator_id") == INDICATOR)
    )
    status = dict(zip(outliers["org_id"], outliers["funnel_status"], strict=True))
    assert status == {ods: "high", SECOND: "low"}


def test_specialty_table_shows_each_specialty_as_published(login, ods, run_dir):
    response = login("gp").get(reverse("scorecard_practice", args=[ods]))
    assert response.status_code == 200
    table = html_table(response, TABLE)
    assert table[0] == [
        "Specialty",
        "Period",
        "Numerator",
        "Denominator",
        "Value",
        "95% interval",
        "Neighbourhood value",
        "Peer value (locality)",
        "99.8% limits",
        "Funnel (99.8%)",
        "Funnel (95%)",
        "Consecutive months outside 99.8%",
    ]
    practice = _values(run_dir, "practice").filter(pl.col("org_id") == ods)
    hood = {
        (r["org_id"], r["subgroup"]): r["value"]
        for r in _values(run_dir, "neighbourhood").iter_rows(named=True)
    }
    locality = {
        r["subgroup"]: r["value"] for r in _values(run_dir, "locality").iter_rows(named=True)
    }
    runs = {
        r["subgroup"]: r["consecutive_periods"]
        for r in _latest_outliers(run_dir).filter(pl.col("org_id") == ods).iter_rows(named=True)
    }
    assert len(table) - 1 == practice.height >= 10
    shown = {row[0]: row for row in table[1:]}
    for r in practice.iter_rows(named=True):
        row = next(v for k, v in shown.items() if k.endswith(f"({r['subgroup']})"))
        assert row[1:] == [
            r["period"],
            _fmt(r["numerator"], 0),
            _fmt(r["denominator"], 0),
            _fmt(r["value"]),
            f"{_fmt(r['lower95'])} to {_fmt(r['upper95'])}",
            _fmt(hood[(r["parent_id"], r["subgroup"])]),
            _fmt(r["peer_value"]),
            f"{_fmt(r['funnel_lower998'])} to {_fmt(r['funnel_upper998'])}",
            STATUS[r["funnel_status"]],
            STATUS95[r["funnel_status95"]],
            str(runs[r["subgroup"]]) if r["subgroup"] in runs else "",
        ]
        # The peer is the locality's value for the same specialty.
        assert r["peer_value"] == pytest.approx(locality[r["subgroup"]])
    dermatology = shown["Dermatology (330)"]
    assert dermatology[9] == "above 99.8% limit" and int(dermatology[11]) >= 1
    # Status comes from the limits alone: a row is 'within' exactly when inside them.
    for r in practice.iter_rows(named=True):
        inside = r["funnel_lower998"] <= r["value"] <= r["funnel_upper998"]
        assert (r["funnel_status"] == "within") == inside
    # The whole-indicator scorecard does not list it, nor as 'not yet measured'.
    scorecard = html_table(response, "scorecard")
    assert not any("by specialty" in row[0] for row in scorecard[1:])
    assert "<li>Outpatient attendances per 1,000, by specialty:" not in response.content.decode()


def test_specialty_csv_is_the_table_beside_it(login, ods, run_dir):
    for who in ("gp", "coordinator", "commissioner"):
        client = login(who)
        shown = html_table(client.get(reverse("scorecard_practice", args=[ods])), TABLE)
        response = client.get(reverse("scorecard_specialties_csv", args=[ods, INDICATOR]))
        assert response.status_code == 200
        assert csv_rows(response) == shown
    # Only broken-down indicators have a specialty table.
    assert (
        login("gp").get(reverse("scorecard_specialties_csv", args=[ods, "gp_dna_rate"])).status_code
        == 404
    )


def test_outlier_report_names_the_specialty(login, ods, run_dir):
    client = login("commissioner")
    response = client.get(reverse("scorecard_outliers"))
    table = html_table(response, "outliers")
    header, rows = table[0], [r for r in table[1:] if r != ["No rows."]]
    assert header[2:4] == ["Indicator", "Specialty"]
    expected = _latest_outliers(run_dir)
    assert len(rows) == expected.height
    dermatology = {(r[0], r[11], r[13]) for r in rows if r[3] == "Dermatology (330)"}
    published = {
        (r["org_id"], r["funnel_status"], str(r["consecutive_periods"]))
        for r in expected.filter(pl.col("subgroup") == DERMATOLOGY).iter_rows(named=True)
    }
    labels = figures.names()
    assert dermatology == {(labels.get(o, o), s, c) for o, s, c in published}
    assert {s for _, s, _ in dermatology} == {"high", "low"}
    # Rows for a whole indicator leave the specialty blank.
    whole = expected.filter(pl.col("subgroup") == "all").height
    assert sum(1 for r in rows if r[3] == "") == whole
    # The download is the same table, specialty rows included.
    downloaded = csv_rows(client.get(reverse("scorecard_outliers_csv")))
    assert downloaded == table if rows else downloaded == table[:1]
    assert any(r[3] == "Dermatology (330)" for r in downloaded[1:])
    # A specialty row links to the practice's specialty table.
    html = response.content.decode()
    assert f'href="/scorecard/practices/{ods}/#by-specialty-{INDICATOR}"' in html


def test_specialty_figures_are_refused_without_scorecard_access(login, ods, run_dir):
    urls = [
        reverse("scorecard_practice", args=[ods]),
        reverse("scorecard_specialties_csv", args=[ods, INDICATOR]),
    ]
    for who in ("nurse", "social", "admin", "auditor"):
        client = login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 403, (who, url)
            assert "Dermatology" not in response.content.decode()
    # In scope only: the second practice is outside every practice role's scope.
    for who in ("gp", "practice", "coordinator"):
        url = reverse("scorecard_specialties_csv", args=[SECOND, INDICATOR])
        assert login(who).get(url).status_code == 403
    assert login("commissioner").get(reverse("scorecard_outliers")).status_code == 200
    assert login("gp").get(reverse("scorecard_outliers")).status_code == 403
    for url in urls:
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_specialty_figures_are_not_published(client, ods, run_dir):
    assert SubgroupValue.objects.filter(indicator_id=INDICATOR).exists()
    assert not PublicValue.objects.filter(indicator_id=INDICATOR).exists()
    page = client.get(reverse("public_practice", args=[ods])).content.decode()
    download = client.get(reverse("public_practice_csv", args=[ods])).content.decode()
    for text in (page, download):
        assert "by specialty" not in text and "Dermatology" not in text


def test_indicator_page_of_a_specialty_indicator_goes_to_the_table(login, ods, run_dir):
    client = login("gp")
    response = client.get(reverse("scorecard_indicator", args=[ods, INDICATOR]))
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("scorecard_practice", args=[ods]) + f"#by-specialty-{INDICATOR}"
    )
    assert client.get(reverse("scorecard_trend_csv", args=[ods, INDICATOR])).status_code == 404


def test_refresh_loads_once_and_reloads_runs_from_an_older_loader(specialty_warehouse, run_dir):
    run = IndicatorRun.latest()
    rows = SubgroupValue.objects.filter(run=run).count()
    practices = pl.read_parquet(run_dir / "indicator_values.parquet").filter(
        (pl.col("subgroup") != "all") & (pl.col("level") != "clinician")
    )
    assert rows == practices.height
    assert load.load_latest_indicators(specialty_warehouse) == run_dir.name
    assert IndicatorRun.latest().pk == run.pk  # already loaded: skipped
    IndicatorRun.objects.filter(pk=run.pk).update(load_version=1)
    assert load.load_latest_indicators(specialty_warehouse) == run_dir.name
    again = IndicatorRun.latest()
    assert again.pk != run.pk and again.load_version == load.LOAD_VERSION
    assert IndicatorRun.objects.count() == 1
    assert SubgroupValue.objects.count() == rows
