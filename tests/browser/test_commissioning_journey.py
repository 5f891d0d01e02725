"""The commissioner's journey (issue 16), in a real browser over the demo locality: the local
QOF is computed (``wraparound local-qof``) and loaded (``app refresh``) as ``make demo`` does;
a commissioner opens the local QOF dashboard, reads the chart beside its table, and downloads
the claims, which are the run's claims CSV row for row. Each page is checked with axe-core
(WCAG 2.2 AA). (The evaluation of the demo intervention has its own half of this journey.)"""

from __future__ import annotations

import csv
import re

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

from wraparound.analytics.local_qof import claims
from wraparound.analytics.local_qof.run import latest

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def local_qof(site):
    """The local QOF run the ``site`` fixture computed and loaded (``wraparound local-qof``,
    then ``app refresh``, as ``make demo`` does)."""
    run = latest(site.warehouse)
    assert run is not None, "no local QOF run in the site"
    return run


def test_commissioner_downloads_the_local_qof_claims(page, local_qof, tmp_path):
    sign_in(page, "commissioner")
    page.goto("/commissioning/local-qof/")
    expect(page.get_by_role("heading", name=re.compile("^Local QOF: "))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Local QOF payment by month"))).to_be_visible()
    assert page.locator("#lqof-trend-table tbody tr").count() >= 1
    assert page.locator("#lqof-lines tbody tr").count() == 4
    check_page(page, "commissioning-local-qof")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the claims (CSV)").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with path.open(newline="") as handle:
        downloaded = list(csv.reader(handle))
    with (local_qof / "claims.csv").open(newline="") as handle:
        published = list(csv.reader(handle))
    assert tuple(downloaded[0]) == claims.COLUMNS
    assert downloaded == published
    practices = page.locator("#lqof-practices tbody tr").count()
    assert len(downloaded) - 1 == practices * 4

    page.locator("#lqof-practices tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/commissioning/local-qof/practices/"))
    assert page.locator("#lqof-actions").count() == 0  # names are for the practice only
    check_page(page, "commissioning-local-qof-practice")


def test_commissioner_reads_budget_early_warning_and_decisions(page, local_qof):
    sign_in(page, "commissioner")
    page.goto("/commissioning/budget/")
    expect(
        page.get_by_role("img", name=re.compile("Spend against budget by month"))
    ).to_be_visible()
    assert page.locator("#budget-lines tbody tr").count() == 6
    assert page.locator("#budget-shift tbody tr").count() == 4
    check_page(page, "commissioning-budget")
    page.goto("/commissioning/early-warning/")
    assert page.locator("#early-warning tbody tr").count() >= 1
    check_page(page, "commissioning-early-warning")
    page.locator("#early-warning tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/commissioning/early-warning/.+/"))
    assert page.locator("#ew-trend-table tbody tr").count() >= 1
    check_page(page, "commissioning-early-warning-practice")
    page.goto("/commissioning/decisions/")
    assert page.locator("tbody tr", has_text="Adopt Local QOF").count() == 1
    check_page(page, "commissioning-decisions")
    page.goto("/commissioning/decisions/new")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check_page(page, "commissioning-decision-refused")
