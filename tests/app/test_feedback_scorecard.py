"""The Friends and Family Test on the scorecard: the feedback app's anonymous responses,
exported (``apps/feedback/events.py``) and counted by ``wraparound indicators`` as
``fft_share_positive`` (a denominator of responses), shown on the practice scorecard with
its Wilson interval, and on the public practice page only under disclosure control."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from django.test import Client
from django.urls import reverse
from scorecard_world import html_table

from wraparound.analytics import results
from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.feedback import events
from wraparound.apps.feedback.models import Response
from wraparound.apps.records.models import User
from wraparound.apps.scorecard import load
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

INDICATOR = "fft_share_positive"
TITLE = "Friends and Family Test: share of responses positive"


def _responses(practice, month, answers: dict[str, int]):
    for answer, n in answers.items():
        for _ in range(n):
            Response.objects.create(
                touchpoint="hub_appointment",
                service_code="HUB1",
                service_name="Test Hub",
                practice=practice,
                month=month,
                answer=answer,
                free_text={"why": "Zebedee was kind"},
            )


@pytest.fixture
def fft_run(small_warehouse, tmp_path, django_db_setup) -> Path:
    """A copy of the locality with the app's FFT responses exported beside it: 30 for the
    GP's practice in the last month of data (24 very good or good) and 5 the month before
    (3 good); indicators run and loaded as refresh loads them, inside this test's
    transaction."""
    root = tmp_path / "warehouse"
    shutil.copytree(small_warehouse, root, ignore=shutil.ignore_patterns("results"))
    last = pl.from_arrow(Warehouse(root).read("encounters"))["start"].max().date()
    month = last.replace(day=1)
    practice = User.objects.get(username="gp").scope_org
    before = (month - dt.timedelta(days=1)).replace(day=1)
    Response.objects.all().delete()
    _responses(practice, month, {"very_good": 20, "good": 4, "poor": 4, "dont_know": 2})
    _responses(practice, before, {"good": 3, "poor": 2})
    assert events.export(root) == 35
    library = tuple(i for i in definition.load() if i.id == INDICATOR)
    run_indicators(root, library=library)
    run_dir = results.latest_run(root, "indicators")
    load.load_run(run_dir)
    return run_dir


def test_the_share_positive_is_on_the_practice_scorecard(login, fft_run):
    ods = User.objects.get(username="gp").scope_org_id
    [row] = (
        pl.read_parquet(fft_run / "scorecard.parquet")
        .filter((pl.col("org_id") == ods) & (pl.col("indicator_id") == INDICATOR))
        .to_dicts()
    )
    assert (row["numerator"], row["denominator"], row["value"]) == (24, 30, 80.0)
    response = login("gp").get(reverse("scorecard_practice", args=[ods]))
    assert response.status_code == 200
    table = html_table(response, "scorecard")
    [shown] = [r for r in table[1:] if r[0].startswith(TITLE)]
    assert shown[2:5] == ["24", "30", "80.0"]
    assert f"{row['lower95']:.1f}" in " ".join(shown)
    assert "Zebedee" not in response.content.decode()  # free text never leaves the app


def test_the_public_page_rounds_and_suppresses(fft_run):
    ods = User.objects.get(username="gp").scope_org_id
    public = pl.read_parquet(fft_run / "public" / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == INDICATOR) & (pl.col("level") == "practice")
    )
    mine = {r["period"]: r for r in public.filter(pl.col("org_id") == ods).to_dicts()}
    small, latest = (mine[p] for p in sorted(mine)[-2:])
    assert (latest["numerator"], latest["denominator"]) == (25, 30)  # rounded to 5
    assert latest["value"] == pytest.approx(100 * 25 / 30)
    for column in ("numerator", "denominator", "value", "lower95", "upper95"):
        assert small[column] is None, column  # 3 of 5: suppressed
    page = Client().get(reverse("public_practice", args=[ods]))
    assert page.status_code == 200
    html = page.content.decode()
    assert TITLE in html and "Zebedee" not in html
    assert "80.0" not in html  # the true share is not published, only the rounded one's
