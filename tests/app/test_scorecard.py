"""Scorecard pages over a real indicators run: the practice scorecard shows exactly the
published scorecard rows, funnel status comes only from the published limits, every CSV is
the table beside it, clinician rows reach only the practice's own staff, and the
commissioners' outlier, inequality and outcome pages render their charts and tables."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from django.urls import reverse
from scorecard_world import csv_rows, html_table, indicators_dir  # noqa: F401

from wraparound.apps.records.models import AuditEvent, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

STATUS = {"high": "above 99.8% limit", "low": "below 99.8% limit", "within": "within limits"}


def _fmt(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


@pytest.fixture
def ods():
    return User.objects.get(username="gp").scope_org_id


def _practice_rows(run_dir, ods) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "scorecard.parquet").filter(
        (pl.col("level") == "practice") & (pl.col("org_id") == ods) & (pl.col("subgroup") == "all")
    )


def test_scorecard_shows_each_indicator_as_published(login, ods, indicators_dir):  # noqa: F811
    response = login("gp").get(reverse("scorecard_practice", args=[ods]))
    assert response.status_code == 200
    table = html_table(response, "scorecard")
    assert table[0][:5] == ["Indicator", "Period", "Numerator", "Denominator", "Value"]
    expected = _practice_rows(indicators_dir, ods)
    assert len(table) - 1 == expected.height > 5
    by_period_value = {(r[1], r[4]) for r in table[1:]}
    for row in expected.iter_rows(named=True):
        digits = 0 if row["indicator_id"].endswith("_count") else 1
        assert (row["period"], _fmt(row["value"], digits)) in by_period_value
    statuses = {r[0]: r[9] for r in table[1:]}
    published = {STATUS.get(s, "") for s in expected["funnel_status"].fill_null("").to_list()}
    assert set(statuses.values()) == published


def test_no_audit_rows_for_aggregate_pages(login, ods, indicators_dir):  # noqa: F811
    client = login("commissioner")
    before = AuditEvent.objects.count()
    for url in (
        reverse("scorecard_practice", args=[ods]),
        reverse("scorecard_outliers"),
        reverse("scorecard_outcomes"),
        reverse("scorecard_inequalities"),
    ):
        assert client.get(url).status_code == 200
    assert AuditEvent.objects.count() == before


def test_every_csv_is_the_table_beside_it(login, ods, indicators_dir):  # noqa: F811
    client = login("gp")
    pairs = [
        ("scorecard_practice", "scorecard_practice_csv", [ods], "scorecard"),
        ("scorecard_practice", "scorecard_clinicians_csv", [ods], "clinicians"),
        ("scorecard_indicator", "scorecard_trend_csv", [ods, "ae_attendances_rate"], "trend-table"),
        (
            "scorecard_indicator",
            "scorecard_funnel_csv",
            [ods, "ae_attendances_rate"],
            "funnel-table",
        ),
    ]
    commissioner_pairs = [
        ("scorecard_outliers", "scorecard_outliers_csv", [], "outliers"),
        ("scorecard_inequalities", "scorecard_inequalities_csv", [], "inequalities"),
    ]
    for who, group in (("gp", pairs), ("commissioner", commissioner_pairs)):
        client = login(who)
        for page, download, args, table_id in group:
            shown = html_table(client.get(reverse(page, args=args)), table_id)
            downloaded = csv_rows(client.get(reverse(download, args=args)))
            if len(shown) == 2 and shown[1] == ["No rows."]:
                shown = shown[:1]
            assert downloaded == shown, f"{download} differs from #{table_id}"
    page = client.get(reverse("scorecard_outcomes"))
    for measure in ("emergency_admissions", "ae_attendances", "excess_bed_days"):
        shown = html_table(page, f"outcome-{measure}-table")
        downloaded = csv_rows(client.get(reverse("scorecard_outcomes_csv", args=[measure])))
        assert downloaded == shown


def test_funnel_plot_status_comes_from_the_published_limits(login, ods, indicators_dir):  # noqa: F811
    response = login("gp").get(reverse("scorecard_indicator", args=[ods, "gp_dna_rate"]))
    assert response.status_code == 200
    html = response.content.decode()
    funnel = re.search(r'<svg[^>]*aria-labelledby="funnel-title funnel-desc".*?</svg>', html, re.S)
    assert funnel and 'role="img"' in funnel.group(0)
    assert '<title id="funnel-title">' in funnel.group(0)
    assert "99.8% limits" in funnel.group(0)
    values = pl.read_parquet(indicators_dir / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == "gp_dna_rate")
        & (pl.col("level") == "practice")
        & (pl.col("subgroup") == "all")
    )
    latest = values.filter(pl.col("period") == values["period"].max())
    table = html_table(response, "funnel-table")
    for row in latest.iter_rows(named=True):
        inside = row["funnel_lower998"] <= row["value"] <= row["funnel_upper998"]
        assert (row["funnel_status"] == "within") == inside
        shown = next(r for r in table[1:] if r[3] == _fmt(row["value"]))
        assert shown[6] == STATUS[row["funnel_status"]]
        assert shown[5] == f"{_fmt(row['funnel_lower998'])} to {_fmt(row['funnel_upper998'])}"
    trend = html_table(response, "trend-table")
    series = values.filter(pl.col("org_id") == ods).sort("period")
    assert [r[0] for r in trend[1:]] == series["period"].to_list()
    assert [r[3] for r in trend[1:]] == [_fmt(v) for v in series["value"].to_list()]
    assert 'aria-labelledby="trend-title trend-desc"' in html


def test_clinician_rows_only_for_the_practice_own_staff(login, ods, indicators_dir):  # noqa: F811
    clinicians = pl.read_parquet(indicators_dir / "scorecard.parquet").filter(
        (pl.col("level") == "clinician") & (pl.col("parent_id") == ods)
    )
    assert clinicians.height > 0
    for who in ("gp", "practice"):
        response = login(who).get(reverse("scorecard_practice", args=[ods]))
        assert (
            len(html_table(response, "clinicians")) - 1
            == clinicians.filter(pl.col("subgroup") == "all").height
        )
    for who in ("coordinator", "commissioner"):
        client = login(who)
        response = client.get(reverse("scorecard_practice", args=[ods]))
        assert response.status_code == 200
        assert 'id="clinicians"' not in response.content.decode()
        assert client.get(reverse("scorecard_clinicians_csv", args=[ods])).status_code == 403


def test_commissioner_pages_have_charts_tables_and_target(login, indicators_dir):  # noqa: F811
    client = login("commissioner")
    outcomes = client.get(reverse("scorecard_outcomes")).content.decode()
    assert outcomes.count('role="img"') >= 3
    assert "target (-15%)" in outcomes and "of the way" in outcomes
    # Every subgroup: specialty outliers are in the report, labelled with the specialty.
    expected = pl.read_parquet(indicators_dir / "outliers.parquet").filter(pl.col("latest"))
    table = html_table(client.get(reverse("scorecard_outliers")), "outliers")
    assert len([r for r in table[1:] if r != ["No rows."]]) == expected.height
    inequalities = client.get(reverse("scorecard_inequalities"))
    rows = html_table(inequalities, "inequalities")
    assert rows[0][2] == "Quintile 1" and len(rows) > 5
    assert 'aria-labelledby="quintiles-title quintiles-desc"' in inequalities.content.decode()


def test_practice_tables_rendered_once_per_run_as_loaded(login, ods, indicators_dir):  # noqa: F811
    """The practice page's tables are kept per run, practice and clinician rows (each worker's
    cache): a second view reads less and shows the same tables; a run loaded again is
    rendered again; a user who may not see clinician rows never gets a body that has them."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from wraparound.apps.scorecard.models import IndicatorRun

    cache.clear()
    url = reverse("scorecard_practice", args=[ods])
    client = login("gp")
    with CaptureQueriesContext(connection) as first:
        fresh = client.get(url)
    with CaptureQueriesContext(connection) as second:
        kept = client.get(url)
    assert len(second.captured_queries) < len(first.captured_queries)
    for table_id in ("scorecard", "clinicians"):
        assert html_table(kept, table_id) == html_table(fresh, table_id) != []

    run = IndicatorRun.latest()
    IndicatorRun.objects.filter(pk=run.pk).update(loaded_at=run.loaded_at - dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as reloaded:
        client.get(url)
    assert len(reloaded.captured_queries) == len(first.captured_queries)

    response = login("coordinator").get(url)
    assert 'id="clinicians"' not in response.content.decode()
    assert html_table(response, "scorecard") == html_table(fresh, "scorecard")
