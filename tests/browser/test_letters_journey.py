"""Browser journey (issue 14): an overdue letter escalates. A letter expected from a hospital
after an outpatient attendance ten days ago has not come; the refresh's escalation makes it a
task for the practice's care co-ordinator. The GP sees it overdue and escalated on the letters
dashboard (axe-checked), and the co-ordinator finds the task on their task list."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")

# Run in the site's own database (its environment): one expected letter, then the escalation
# the refresh runs (letters/load.py escalate).
SEED = """
import datetime as dt
from wraparound.apps.django_setup import setup_django
setup_django()
from django.utils import timezone
from wraparound.apps.letters.load import escalate
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.letters.rules import add_operational_days
from wraparound.apps.records.models import Patient, User
practice = User.objects.get(username="gp").scope_org
patient = Patient.objects.filter(practice=practice).order_by("pk").first()
contact = timezone.localdate() - dt.timedelta(days=10)
ExpectedLetter.objects.update_or_create(
    encounter_id="journey-letter-1",
    defaults=dict(
        patient=patient, practice=practice, kind="outpatient", provider_id="RJX",
        provider_name="Journey Hospital", service="Cardiology",
        contact_at=timezone.make_aware(dt.datetime.combine(contact, dt.time(10))),
        due=add_operational_days(contact, 2),
    ),
)
escalate()
print(patient)
"""


def test_an_overdue_letter_escalates_to_the_practice(page, site):
    done = subprocess.run(
        [sys.executable, "-c", SEED], env=site.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    patient = done.stdout.strip().splitlines()[-1]
    sign_in(page, "gp")
    page.goto("/letters/")
    expect(page.get_by_role("heading", name=re.compile("Letters back to the GP"))).to_be_visible()
    row = page.locator("#overdue + table tbody tr", has_text="Journey Hospital")
    assert row.count() == 1
    assert patient in row.inner_text() and "Escalated" in row.inner_text()
    check_page(page, "letters-dashboard")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "coordinator")
    page.goto("/tasks/")
    task = page.get_by_role("cell", name=re.compile("^Chase the letter from Journey Hospital"))
    expect(task).to_be_visible()
    assert "not received" in task.inner_text()
