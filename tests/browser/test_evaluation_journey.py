"""The commissioner's evaluation journey (issue 16), in a real browser: the evaluation of the
demo intervention is published into the site's warehouse (from a generated panel with a
true -15%, through the code ``wraparound evaluate`` publishes with: the browser locality is
one practice, too small to evaluate), and a commissioner opens it from the evaluation
index: the logic model, the effects table, the chart beside its table, the balance table,
and the effects CSV, which is the table row for row. Each page passes axe-core (WCAG 2.2
AA); then the demand projection page, its chart, table and axe check. (The local QOF claims
download is tests/browser/test_commissioning_journey.py.)"""

from __future__ import annotations

import csv
import re

import pytest
from browsing import check_page, sign_in
from evaluation_panels import publish
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def published(site):
    return publish(site.warehouse)


def test_commissioner_opens_the_evaluation_of_the_demo_intervention(page, published, tmp_path):
    sign_in(page, "commissioner")
    page.goto("/evaluation/")
    check_page(page, "evaluation-index")
    page.get_by_role("link", name="Wraparound care for high-needs patients").click()
    page.wait_for_url(re.compile(r"/evaluation/interventions/high_needs_wraparound/$"))
    expect(page.get_by_role("heading", name="Logic model")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^4. Outcomes"))).to_be_visible()
    did = published["did"]
    effect = f"{100 * did['relative']:+.1f}%"
    row = page.locator("#effects-table tbody tr").first
    assert effect in row.inner_text()
    expect(
        page.get_by_role("img", name=re.compile("Emergency admissions per 1,000"))
    ).to_be_visible()
    assert page.locator("#series-emergency_admissions-table tbody tr").count() == 24
    assert page.locator("#balance-table tbody tr").count() == 2
    check_page(page, "evaluation-report")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the effects as CSV").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "Outcome" and rows[1][0] == "Emergency admissions"
    assert rows[1][1] == effect


def test_commissioner_reads_the_demand_projection(page, published):
    sign_in(page, "commissioner")
    page.goto("/evaluation/demand/")
    expect(page.get_by_role("heading", name="Demand projection", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Emergency admissions a year"))).to_be_visible()
    assert page.locator("#demand-emergency_admissions-table tbody tr").count() == 5
    check_page(page, "evaluation-demand")
