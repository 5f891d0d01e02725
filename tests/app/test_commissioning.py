"""The commissioning app on the app tests' locality: the local QOF pages and claims (who sees
what, the downloads equal to the run's claims), the action list (the practice's own staff
only, audited), and the decisions log's refusal of a conflicted approver at the form and at
the model."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from commissioning_world import local_qof_dir  # noqa: F401
from django.core.exceptions import ValidationError
from django.urls import reverse
from worlds import neighbour_practice

from wraparound.analytics.local_qof import claims
from wraparound.apps.commissioning.models import (
    ActionItem,
    Attendance,
    Decision,
    Interest,
    LocalQofRun,
    LocalQofValue,
    Member,
)
from wraparound.apps.records.models import AuditEvent, Organisation, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def _own():
    return User.objects.get(username="gp").scope_org_id


def _other():
    return neighbour_practice().pk


def test_run_loaded_whole(local_qof_dir):  # noqa: F811
    run = LocalQofRun.latest()
    practices = Organisation.objects.filter(kind="practice").count()
    months = run.period_last - run.period_first + 1
    assert LocalQofValue.objects.filter(run=run).count() == practices * 4 * months
    assert LocalQofValue.objects.filter(run=run, latest=True).count() == practices * 4
    assert ActionItem.objects.filter(run=run).exists()


def test_claims_download_is_the_run_claims(login, local_qof_dir):  # noqa: F811
    client = login("commissioner")
    response = client.get(reverse("commissioning_local_qof_claims_csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    published = list(csv.reader(io.StringIO((local_qof_dir / "claims.csv").read_text())))
    assert rows == published
    assert tuple(rows[0]) == claims.COLUMNS
    assert len(rows) - 1 == Organisation.objects.filter(kind="practice").count() * 4


def test_commissioner_sees_every_practice_without_names(login, local_qof_dir):  # noqa: F811
    client = login("commissioner")
    page = client.get(reverse("commissioning_local_qof"))
    assert page.status_code == 200
    for name in ("practices.csv", "lines.csv", "trend.csv"):
        url = reverse(f"commissioning_local_qof_{name.split('.')[0]}_csv")
        assert client.get(url).status_code == 200
    other = client.get(reverse("commissioning_local_qof_practice", args=[_own()]))
    assert other.status_code == 200
    assert b'id="lqof-actions"' not in other.content
    item = ActionItem.objects.filter(practice_id=_own()).select_related("patient").first()
    assert item.patient.nhs_number_display().encode() not in other.content


def test_action_list_for_the_practice_only_and_audited(login, local_qof_dir):  # noqa: F811
    client = login("gp")
    url = reverse("commissioning_local_qof_practice", args=[_own()])
    before = AuditEvent.objects.filter(what=f"local QOF action list {_own()}").count()
    page = client.get(url)
    assert page.status_code == 200
    assert b'id="lqof-actions"' in page.content
    item = ActionItem.objects.filter(practice_id=_own()).select_related("patient").first()
    assert item.patient.nhs_number_display().encode() in page.content
    after = AuditEvent.objects.filter(what=f"local QOF action list {_own()}").count()
    assert after == before + 1
    # Not the locality, not another practice.
    assert client.get(reverse("commissioning_local_qof")).status_code == 403
    assert client.get(reverse("commissioning_local_qof_claims_csv")).status_code == 403
    refused = client.get(reverse("commissioning_local_qof_practice", args=[_other()]))
    assert refused.status_code == 403


@pytest.mark.parametrize("username", ["coordinator", "nurse", "hub", "admin", "auditor"])
def test_other_roles(login, username, local_qof_dir):  # noqa: F811
    client = login(username)
    assert client.get(reverse("commissioning_local_qof")).status_code == 403
    assert client.get(reverse("commissioning_decisions")).status_code == 403
    page = client.get(reverse("commissioning_local_qof_practice", args=[_own()]))
    # Co-ordinators see their neighbourhood's practices' figures, never the names.
    assert page.status_code == (200 if username == "coordinator" else 403)
    assert b'id="lqof-actions"' not in page.content


def test_unknown_practice_and_download(login, local_qof_dir):  # noqa: F811
    client = login("commissioner")
    assert client.get(reverse("commissioning_local_qof_practice", args=["NOPE"])).status_code == 404
    assert client.get("/commissioning/local-qof/nothing.csv").status_code == 404


# Decisions and interests -------------------------------------------------------------------


@pytest.fixture
def members():
    gp = Member.objects.create(name="Dr Ann Cole", kind="gp")
    lay = Member.objects.create(name="Ben Lay", kind="lay")
    officer = Member.objects.create(name="Cara Officer", kind="officer")
    Interest.objects.create(
        member=gp,
        kind="scheme",
        subject="local_qof",
        description="Partner at a practice paid under the scheme",
        declared_on=dt.date(2025, 1, 1),
    )
    return gp, lay, officer


def _post(gp, lay, officer, **change):
    data = {
        "kind": "scheme",
        "subject": "local_qof",
        "title": "Adopt local QOF 2025/26 version 1",
        "decided_on": "2025-03-15",
        "outcome": "approved",
        "present": [gp.pk, lay.pk, officer.pk],
        "declared": [],
        "excluded": [gp.pk],
        "approvers": [lay.pk, officer.pk],
    }
    data.update(change)
    return data


def test_decision_recorded_and_audited(login, members):
    client = login("commissioner")
    response = client.post(reverse("commissioning_decision_new"), _post(*members))
    assert response.status_code == 302
    decision = Decision.objects.get()
    got = {(a.member.name, a.declared, a.excluded, a.approved) for a in decision.attendance.all()}
    assert got == {
        ("Dr Ann Cole", False, True, False),
        ("Ben Lay", False, False, True),
        ("Cara Officer", False, False, True),
    }
    assert AuditEvent.objects.filter(what__startswith=f"decision {decision.pk} ").count() == 1
    assert b"Adopt local QOF" in client.get(reverse("commissioning_decisions")).content


@pytest.mark.parametrize(
    "change",
    [
        "registered",  # the GP's interest in the register covers this scheme
        "declared",  # the lay member declared one at the meeting
        "excluded",  # excluded from the decision
    ],
)
def test_conflicted_approver_refused_by_the_form(login, members, change):
    gp, lay, officer = members
    data = {
        "registered": _post(gp, lay, officer, excluded=[], approvers=[gp.pk, officer.pk]),
        "declared": _post(gp, lay, officer, declared=[lay.pk]),
        "excluded": _post(gp, lay, officer, excluded=[officer.pk]),
    }[change]
    client = login("commissioner")
    response = client.post(reverse("commissioning_decision_new"), data)
    assert response.status_code == 400
    assert b"cannot approve it" in response.content
    assert not Decision.objects.exists() and not Attendance.objects.exists()


def test_interest_on_another_subject_or_ended_does_not_conflict(login, members):
    gp, lay, officer = members
    Interest.objects.filter(member=gp).update(ended_on=dt.date(2025, 3, 1))
    client = login("commissioner")
    response = client.post(
        reverse("commissioning_decision_new"),
        _post(gp, lay, officer, excluded=[], approvers=[gp.pk]),
    )
    assert response.status_code == 302


def test_conflicted_approver_refused_by_the_model(members):
    gp, lay, _ = members
    decision = Decision.objects.create(
        kind="scheme",
        subject="local_qof",
        title="t",
        decided_on=dt.date(2025, 3, 15),
        outcome="approved",
        recorded_by=User.objects.get(username="commissioner"),
    )
    with pytest.raises(ValidationError, match="cannot approve it"):
        Attendance.objects.create(decision=decision, member=gp, approved=True)
    with pytest.raises(ValidationError, match="cannot approve it"):
        Attendance.objects.create(decision=decision, member=lay, declared=True, approved=True)
    Attendance.objects.create(decision=decision, member=lay, approved=True)
    assert decision.conflicted() == {gp.pk}


def test_bad_decision_input_is_a_400(login, members):
    client = login("commissioner")
    response = client.post(
        reverse("commissioning_decision_new"), _post(*members, decided_on="yesterday")
    )
    assert response.status_code == 400
    assert not Decision.objects.exists()


def test_interest_declared_and_audited(login, members):
    gp, *_ = members
    client = login("commissioner")
    response = client.post(
        reverse("commissioning_interests"),
        {
            "member": gp.pk,
            "kind": "budget",
            "subject": "",
            "description": "Director of a provider of hub sessions",
            "declared_on": "2025-04-01",
        },
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(what__startswith="interest ").count() == 1
    assert b"Director of a provider" in client.get(reverse("commissioning_interests")).content


# Budget against spend ------------------------------------------------------------------------


def test_budget_against_spend(login, local_qof_dir):  # noqa: F811
    from wraparound.apps.commissioning import budget

    plan = budget.load()
    assert sum(line.rate for line in plan.lines) == pytest.approx(23_100_000 / 200_000)
    figures = budget.compute(plan)
    run = LocalQofRun.latest()
    first_lists = LocalQofValue.objects.filter(run=run, period=run.period_first, code="LQ01")
    total_list = sum(v.list_size for v in first_lists)
    lines = {r["code"]: r for r in budget.by_line(figures)}
    # Per-patient lines: the rate x the list in the year's first month.
    assert lines["enhanced"]["annual"] == pytest.approx(12.0 * total_list)
    # The weighted list is normalised to the list.
    assert lines["core"]["annual"] == pytest.approx(82.0 * total_list, rel=0.05)
    # Fixed lines spend their budget; local QOF spend is the payment earned to date.
    assert lines["mdt_roles"]["variance"] == pytest.approx(0.0, abs=0.01)
    earned = sum(v.payment for v in LocalQofValue.objects.filter(run=run, latest=True))
    assert lines["local_qof"]["ytd_spend"] == pytest.approx(earned)
    shift = budget.by_category(figures)
    assert sum(r["budget_share"] for r in shift) == pytest.approx(100.0)

    client = login("commissioner")
    assert client.get(reverse("commissioning_budget")).status_code == 200
    rows = _csv(client.get(reverse("commissioning_budget_lines_csv")))
    assert [r[0] for r in rows[1:]] == [line.title for line in plan.lines]
    months = _csv(client.get(reverse("commissioning_budget_months_csv")))
    assert len(months) - 1 == run.period_last - run.period_first + 1
    for name in ("shift", "practices"):
        assert client.get(reverse(f"commissioning_budget_{name}_csv")).status_code == 200
    assert login("gp").get(reverse("commissioning_budget")).status_code == 403


# Early warning --------------------------------------------------------------------------------


def test_signals_are_data_and_flags_name_their_threshold():
    from wraparound.apps.commissioning import early_warning

    signals = {s.code: s for s in early_warning.load()}
    per_gp = signals["patients_per_gp"]
    assert per_gp.flagged(2001) and not per_gp.flagged(2000) and not per_gp.flagged(None)
    assert signals["outliers"].flagged(2) and not signals["outliers"].flagged(1)
    assert signals["fft"].flagged(79.9) and not signals["fft"].flagged(80)
    assert per_gp.rule == "above 2000 patients"
    bad = (
        '[[signals]]\ncode="x"\ntitle="x"\nsource="nope"\nflag_when="above"\n'
        'threshold=1\nweight=1\nunit="u"\n'
    )
    with pytest.raises(early_warning.SignalError, match="unknown"):
        early_warning.parse(bad, "t.toml")


def test_early_warning_scores(login, local_qof_dir):  # noqa: F811
    from wraparound.apps.commissioning import early_warning

    run = LocalQofRun.latest()
    gps = run.manifest["gp_fte"][_own()]
    rows = early_warning.scores([_own()], early_warning.load())
    last = next(r for r in rows if r["period"] == max(r["period"] for r in rows))
    size = LocalQofValue.objects.get(run=run, latest=True, practice_id=_own(), code="LQ01")
    assert last["patients_per_gp"] == pytest.approx(size.list_size / gps)
    flagged = last["patients_per_gp"] > 2000
    assert any(f.startswith("Patients per GP") for f in last["flags"]) == flagged
    assert last["score"] == sum(s.weight for s in early_warning.load() if s.flagged(last[s.code]))
    client = login("commissioner")
    page = client.get(reverse("commissioning_early_warning"))
    assert page.status_code == 200
    rows = _csv(client.get(reverse("commissioning_early_warning_csv")))
    assert [r[0] for r in rows[1:]] == [Organisation.objects.get(pk=_own()).name]
    trend = _csv(client.get(reverse("commissioning_early_warning_practice_csv", args=[_own()])))
    assert len(trend) - 1 == run.period_last - run.period_first + 1
    assert login("gp").get(reverse("commissioning_early_warning")).status_code == 403


def test_support_hub_sees_only_its_practices(client, local_qof_dir):  # noqa: F811
    from wraparound.apps.commissioning.models import SupportAssignment

    other = neighbour_practice()
    commissioner = User.objects.get(username="commissioner")
    hub = User.objects.create_user(
        "support", password="x-support-9", role="commissioner", scope="locality",
        scope_org=commissioner.scope_org,
    )  # fmt: skip
    SupportAssignment.objects.create(user=hub, practice=other)
    client.force_login(hub)
    rows = _csv(client.get(reverse("commissioning_early_warning_csv")))
    assert [r[0] for r in rows[1:]] == [other.name]
    assert (
        client.get(reverse("commissioning_early_warning_practice", args=[other.pk])).status_code
        == 200
    )
    refused = client.get(reverse("commissioning_early_warning_practice", args=[_own()]))
    assert refused.status_code == 403
    csv_refused = client.get(reverse("commissioning_early_warning_practice_csv", args=[_own()]))
    assert csv_refused.status_code == 403


def test_demo_governance_seed_is_idempotent_and_keeps_the_rule():
    from wraparound.apps.commissioning.seed import seed_governance

    first = seed_governance()
    assert seed_governance() == first
    decision = Decision.objects.get()
    approvers = {a.member.name for a in decision.attendance.filter(approved=True)}
    assert "Dr Asha Patel" not in approvers and len(approvers) == 2
    assert decision.conflicted() == {Member.objects.get(name="Dr Asha Patel").pk}
