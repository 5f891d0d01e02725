"""Scorecard pages in a real browser: a GP's practice scorecard and an indicator's trend
chart and funnel plot, the commissioners' outlier and outcome pages, and the public practice
page without signing in. Each page is checked with axe-core (WCAG 2.2 AA) and screenshotted
to var/screenshots/; each chart must expose its title to assistive technology and sit next to
a table and a CSV download of the same figures."""

from __future__ import annotations

import csv
import re

import pytest
from browsing import SCREENSHOTS, check_page, sign_in
from playwright.sync_api import expect

from wraparound.analytics import disclosure, results
from wraparound.vocabulary import INDICATORS

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def scored(site):
    """The browser site with a real indicators run, loaded by ``wraparound app refresh``
    (the ``site`` fixture runs both, as ``make demo`` does)."""
    assert results.latest_run(site.warehouse, INDICATORS), "no indicators run in the site"
    return site


def _download_rows(page, link_name: str, tmp_path) -> list[list[str]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_gp_scorecard_trend_and_funnel_plot(page, scored, tmp_path):
    sign_in(page, "gp")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Scorecard").click()
    page.locator("main ul a").first.click()
    page.wait_for_url(re.compile(r"/scorecard/practices/\w+/$"))
    scorecard = page.locator("#scorecard")
    assert scorecard.locator("tbody tr").count() > 5
    expect(page.get_by_role("heading", name="By clinician")).to_be_visible()
    by_specialty = page.get_by_role(
        "heading", name="Outpatient attendances per 1,000, by specialty"
    )
    expect(by_specialty).to_be_visible()
    specialties = page.locator("#specialty-outpatient_attendances_by_specialty tbody tr")
    assert specialties.count() >= 10
    check_page(page, "scorecard")
    rows = _download_rows(page, "Download this table as CSV", tmp_path)
    assert rows[0][0] == "Indicator" and len(rows) - 1 == scorecard.locator("tbody tr").count()

    scorecard.get_by_role("link", name="GP appointments not attended (DNA)").click()
    page.wait_for_url(re.compile(r"/gp_dna_rate/$"))
    funnel = page.get_by_role("img", name=re.compile(r"GP appointments not attended.*practices"))
    trend = page.get_by_role("img", name=re.compile(r"GP appointments not attended.*by month"))
    expect(funnel).to_be_visible()
    expect(trend).to_be_visible()
    assert page.locator("#funnel-table tbody tr").count() >= 1
    assert page.locator("#trend-table tbody tr").count() >= 12
    check_page(page, "funnel-plot")
    funnel.screenshot(path=str(SCREENSHOTS / "funnel-chart.png"))


def test_commissioner_outliers_and_outcomes(page, scored):
    sign_in(page, "commissioner")
    page.goto("/scorecard/outliers/")
    expect(page.get_by_role("heading", name="Outlier report", exact=True)).to_be_visible()
    check_page(page, "outliers")
    page.goto("/scorecard/outcomes/")
    expect(
        page.get_by_role("img", name=re.compile("Emergency admissions per 1,000"))
    ).to_be_visible()
    assert page.locator("#outcome-emergency_admissions-table tbody tr").count() >= 12
    check_page(page, "outcomes")


def test_public_practice_page_without_signing_in(page, scored):
    page.goto("/public/practices/")
    check_page(page, "public-practices")
    page.locator("main ul a").first.click()
    page.wait_for_url(re.compile(r"/public/practices/\w+/$"))
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert page.locator("#disclosure-rule").inner_text().count(disclosure.RULE[:60]) == 1
    cells = page.locator("#public-figures tbody td").all_inner_texts()
    counts = [c for c in cells if re.fullmatch(r"\d+", c)]
    # Which rows are small depends on what other browser tests loaded into the shared site;
    # the suppression itself is tested row by row in tests/app/test_scorecard_public.py.
    assert counts and all(int(c) % 5 == 0 and not 1 <= int(c) <= 7 for c in counts)
    assert page.get_by_text("By clinician").count() == 0
    check_page(page, "public-practice")
