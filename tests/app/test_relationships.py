"""The findings of the issue-11 probe, each replayed: break-glass that became standing access,
one break-glass opening the record to the MDT, an MDT called for 1999 handing out access to
other practices' patients, a hub clinician writing a care plan; and the rules that stop them
(the relationship registry, MDT windows, break-glass reasons, expiry and the review queue)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient, patients

import wraparound.apps.records as records_pkg
from wraparound.apps.care.models import (
    AgendaItem,
    CarePlan,
    CareTeamMember,
    CaseRecord,
    MdtMeeting,
)
from wraparound.apps.records import relationships
from wraparound.apps.records.clock import data_today
from wraparound.apps.records.models import AuditEvent, BreakGlass, Referral, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

GLASS = {
    "reason_code": "urgent_care",
    "reason": "Patient collapsed in the community centre, need allergies and medicines",
}


def break_glass(client, patient):
    response = client.post(reverse("break_glass", args=[patient.pk]), GLASS)
    assert response.status_code == 302
    return BreakGlass.objects.filter(patient=patient).latest("id")


def last_row(patient, username):
    return (
        AuditEvent.objects.filter(patient=patient, username=username)
        .exclude(action__in=("grant", "end"))
        .order_by("-id")
        .first()
    )


def kinds(username, patient):
    return {r.kind for r in relationships.current(User.objects.get(username=username), patient)}


# -- break-glass never becomes standing access ------------------------------------------------


def test_break_glass_cannot_join_the_care_team(client, login):
    patient = fresh_patient()
    linkworker = User.objects.get(username="linkworker")
    login("linkworker")
    break_glass(client, patient)
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 200
    response = client.post(
        reverse("case_manage", args=[patient.pk]),
        {"status": "identified", "member": linkworker.pk},
    )
    assert response.status_code == 403
    assert not CareTeamMember.objects.filter(patient=patient).exists()
    row = last_row(patient, "linkworker")
    assert (row.outcome, row.basis) == ("denied", "break_glass")
    assert "care_team.manage not allowed under break_glass" in row.what
    # later reads are still break-glass, with the reason, and end when the glass expires
    client.get(reverse("patient", args=[patient.pk]))
    row = last_row(patient, "linkworker")
    assert (row.basis, row.outcome) == ("break_glass", "allowed") and row.reason
    BreakGlass.objects.filter(patient=patient).update(expires_at=timezone.now())
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    assert kinds("linkworker", patient) == set()


def test_break_glass_cannot_put_the_patient_on_an_mdt_agenda(client, login):
    """One break-glass must not open the record to the six other members."""
    patient = fresh_patient()  # at the neighbour practice: the GP is refused
    meeting = MdtMeeting.objects.get(team=User.objects.get(username="coordinator").scope_org)
    login("gp")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    login("linkworker")
    break_glass(client, patient)
    response = client.post(reverse("mdt_add", args=[patient.pk]), {"meeting": meeting.pk})
    assert response.status_code == 403
    assert not AgendaItem.objects.filter(patient=patient).exists()
    for member in ("gp", "nurse", "social", "pharmacist", "mentalhealth", "coordinator"):
        assert kinds(member, patient) == set(), member
    login("gp")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403


def test_break_glass_cannot_book_or_refer():
    """There is no booking page yet: the action a later referrals app will ask for."""
    patient = fresh_patient()
    worker = User.objects.get(username="linkworker")  # no service: break-glass is all
    BreakGlass.objects.create(
        user=worker,
        patient=patient,
        reason_code="urgent_care",
        reason="x",
        expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    assert relationships.first_allowing(worker, patient, "read").kind == "break_glass"
    for action in ("booking.create", "referral.create", "care_team.manage", "mdt.add"):
        assert relationships.first_allowing(worker, patient, action) is None, action
        assert relationships.creates_relationship(action)


def test_a_relationship_created_under_break_glass_grants_nothing():
    """Second line: even a row written with a break-glass source (an old bug, a shell) is
    no relationship."""
    patient = fresh_patient()
    social = User.objects.get(username="social")
    CareTeamMember.objects.create(
        patient=patient, user=social, team_role="member", added_by=social, added_basis="break_glass"
    )
    assert kinds("social", patient) == set()


def test_the_policy_file_cannot_let_break_glass_create_relationships():
    data = {
        "actions": {"read": "r", "mdt.add": "m"},
        "creates_relationships": ["mdt.add"],
        "kind": {"break_glass": {"label": "bg", "actions": ["read", "mdt.add"], "ends": "source"}},
        "mdt": {"call_days_before_today": 7, "call_days_after_today": 180},
    }
    with pytest.raises(relationships.PolicyError, match="break_glass"):
        relationships.parse_policy(data)
    with pytest.raises(relationships.PolicyError, match="not in"):
        relationships.register_provider("portal_proxy", lambda user, patient, now: [])


def test_records_gate_imports_no_other_app():
    """The check lives in records; care and registers register with it, not the reverse."""
    root = Path(records_pkg.__file__).parent
    for name in ("access.py", "relationships.py", "providers.py", "break_glass.py"):
        tree = ast.parse((root / name).read_text())
        imported = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        ] + [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        assert not [m for m in imported if m.startswith("wraparound.apps.") and ".records" not in m]
    # records', care's and registers' kinds, in the policy's order; later apps add theirs
    ours = ["registered", "caseload", "register", "mdt", "referral", "booking", "break_glass"]
    assert [k for k in relationships.registered_kinds() if k in ours] == ours


# -- break-glass reasons, expiry, review ------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        {"reason_code": "urgent_care", "reason": "aaaaaaaaaa"},
        {"reason_code": "urgent_care", "reason": "aaaaaaaaaa aaaaaaaaaa aaaaaaaaaa aaaaaaa"},
        {"reason_code": "urgent_care", "reason": "need it"},
        {"reason_code": "", "reason": GLASS["reason"]},
        {"reason_code": "curiosity", "reason": GLASS["reason"]},
    ],
)
def test_break_glass_needs_a_listed_reason_and_meaningful_text(client, login, form):
    patient = fresh_patient()
    login("linkworker")
    response = client.post(reverse("break_glass", args=[patient.pk]), form)
    assert response.status_code == 400
    assert not BreakGlass.objects.filter(patient=patient).exists()
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    row = AuditEvent.objects.filter(patient=patient, what="break glass: no valid reason")
    assert row.exists() and row.first().outcome == "denied"


def test_break_glass_expires_and_waits_for_the_auditor(client, login):
    patient = fresh_patient()
    login("hub")
    grant = break_glass(client, patient)
    assert grant.reason_code == "urgent_care" and grant.reason == GLASS["reason"]
    assert dt.timedelta(minutes=59) < grant.expires_at - grant.at <= dt.timedelta(minutes=60)
    client.get(reverse("patient", args=[patient.pk]))
    rows = AuditEvent.objects.filter(patient=patient, action="break_glass")
    assert rows.count() == 1 and rows.first().reason.startswith("urgent_care")

    login("coordinator")  # not the auditor: refused, audited
    assert client.get(reverse("break_glass_review")).status_code == 403
    assert AuditEvent.objects.filter(
        username="coordinator", what="break-glass review", outcome="denied"
    ).exists()

    login("auditor")
    page = client.get(reverse("break_glass_review"))
    html = page.content.decode()
    assert page.status_code == 200 and patient.nhs_number_display() in html
    assert GLASS["reason"] in html and "patient record" in html  # what was opened under it
    assert AuditEvent.objects.filter(username="auditor", what="break-glass review queue").exists()
    bad = client.post(reverse("break_glass_review"), {"grant": grant.pk, "outcome": "fine"})
    assert bad.status_code == 400
    grant.refresh_from_db()
    assert grant.reviewed_at is None
    done = client.post(
        reverse("break_glass_review"),
        {"grant": grant.pk, "outcome": "appropriate", "note": "Matches the hub notes"},
    )
    assert done.status_code == 302
    grant.refresh_from_db()
    assert (grant.review_outcome, grant.reviewed_by.username) == ("appropriate", "auditor")
    signed = AuditEvent.objects.get(action="review", patient=patient)
    assert signed.username == "auditor" and "signed off: appropriate" in signed.what
    again = client.post(reverse("break_glass_review"), {"grant": grant.pk, "outcome": "follow_up"})
    assert again.status_code == 400  # no longer waiting
    grant.refresh_from_db()
    assert grant.review_outcome == "appropriate"


# -- MDT ---------------------------------------------------------------------------------------


def test_calling_an_mdt_is_validated_and_audited(client, login):
    login("coordinator")
    before = MdtMeeting.objects.count()
    for bad in ("1999-01-01", "not a date", "", "2999-01-01"):
        response = client.post(reverse("mdt_list"), {"date": bad})
        assert response.status_code == 400, bad
        assert b"nhsuk-error-message" in response.content
    assert MdtMeeting.objects.count() == before
    assert (
        AuditEvent.objects.filter(username="coordinator", what__startswith="call an MDT").count()
        == 4
    )
    # care-plan reviews due: one for a patient the co-ordinator works with, one for a
    # patient they have no relationship with (never put on the agenda by them)
    related, stranger = patients()["related"], fresh_patient()
    for patient in (related, stranger):
        CarePlan.objects.create(patient=patient, review_date=dt.date.today())
    date = dt.date.today() + dt.timedelta(days=5)
    response = client.post(reverse("mdt_list"), {"date": date.isoformat()})
    assert response.status_code == 302
    meeting = MdtMeeting.objects.latest("id")
    called = AuditEvent.objects.get(what__startswith=f"MDT meeting {meeting.pk} called")
    assert called.username == "coordinator" and called.action == "write"
    items = list(meeting.items.all())
    on_agenda = {i.patient_id for i in items}
    assert related.pk in on_agenda and stranger.pk not in on_agenda
    grants = AuditEvent.objects.filter(
        action="grant", what__contains=f"members of MDT meeting {meeting.pk}"
    )
    assert items and grants.count() == len(items)
    assert {g.patient_id for g in grants} == {i.patient_id for i in items}
    assert all(i.raised_by.username == "coordinator" and i.raised_basis for i in items)


def test_only_someone_with_a_relationship_may_add(client, login):
    """The agenda builder adds only the caller's patients; the add page needs mdt.add."""
    patient = fresh_patient()
    meeting = MdtMeeting.objects.get(team=User.objects.get(username="coordinator").scope_org)
    login("social")  # a member, with no relationship with the patient
    response = client.post(reverse("mdt_add", args=[patient.pk]), {"meeting": meeting.pk})
    assert response.status_code == 403
    assert not AgendaItem.objects.filter(patient=patient).exists()
    CareTeamMember.objects.create(
        patient=patient, user=User.objects.get(username="social"), team_role="member"
    )
    response = client.post(reverse("mdt_add", args=[patient.pk]), {"meeting": meeting.pk})
    assert response.status_code == 302
    item = AgendaItem.objects.get(patient=patient)
    assert (item.raised_by.username, item.raised_basis) == ("social", "caseload")
    grant = AuditEvent.objects.get(patient=patient, action="grant")
    assert grant.basis == "caseload" and f"MDT meeting {meeting.pk}" in grant.what
    assert kinds("nurse", patient) == {"mdt"}
    bad = client.post(reverse("mdt_add", args=[patient.pk]), {"meeting": "abc"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("days", "holds"),
    [(14, True), (15, False), (0, True), (-28, True), (-29, False), (-9999, False)],
)
def test_mdt_access_only_inside_the_meetings_window(days, holds):
    patient = fresh_patient()
    coordinator = User.objects.get(username="coordinator")
    meeting = MdtMeeting.objects.create(
        team=coordinator.scope_org,
        date=dt.date.today() + dt.timedelta(days=days),
        chair=coordinator,
    )
    meeting.members.add(User.objects.get(username="nurse"))
    AgendaItem.objects.create(
        meeting=meeting, patient=patient, reason="raised", raised_by=coordinator
    )
    assert kinds("nurse", patient) == ({"mdt"} if holds else set())
    assert kinds("social", patient) == set()  # not a member of that meeting


def test_a_meeting_in_1999_grants_nothing_now(client, login):
    patient = fresh_patient()
    coordinator = User.objects.get(username="coordinator")
    meeting = MdtMeeting.objects.create(
        team=coordinator.scope_org, date=dt.date(1999, 1, 1), chair=coordinator
    )
    meeting.members.set(User.objects.filter(username__in=("gp", "nurse", "social")))
    AgendaItem.objects.create(meeting=meeting, patient=patient, reason="raised")
    login("nurse")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403


def test_mdt_membership_gives_a_gp_nothing_at_other_practices(client, login):
    patient = fresh_patient()  # at the neighbour practice
    meeting = MdtMeeting.objects.get(team=User.objects.get(username="coordinator").scope_org)
    AgendaItem.objects.create(meeting=meeting, patient=patient, reason="raised")
    assert meeting.members.filter(username="gp").exists()
    login("gp")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    agenda = client.get(reverse("mdt_detail", args=[meeting.pk])).content.decode()
    assert patient.family_name.upper() not in agenda and "not shown" in agenda
    assert reverse("patient", args=[patient.pk]) not in agenda
    login("nurse")
    page = client.get(reverse("patient", args=[patient.pk]))
    assert page.status_code == 200
    row = last_row(patient, "nurse")
    assert row.basis == "mdt"
    until = meeting.date + dt.timedelta(days=28)
    html = page.content.decode()  # the relationship's kind, source and end, shown
    assert "the patient is on the agenda of an MDT meeting you belong to (MDT " in html
    assert f"until {until.day} {until:%B %Y}" in html


def test_a_refused_read_asks_each_provider_once(client, login, monkeypatch):
    """The gate's look (``relationships.Look``) asks for the first relationship allowing the
    read and then, refusing, for everything held or lapsed: every provider is asked once
    for both, and the refusal still names no relationship."""
    patient = fresh_patient()  # at the neighbour practice: the GP holds nothing
    asked: list[str] = []

    def counted(kind, provider):
        def ask(user, who, now):
            asked.append(kind)
            return provider(user, who, now)

        return ask

    wrapped = {
        kind: [counted(kind, p) for p in providers]
        for kind, providers in relationships._PROVIDERS.items()
    }
    monkeypatch.setattr(relationships, "_PROVIDERS", wrapped)
    login("gp")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    expected = [kind for kind, providers in wrapped.items() for _ in providers]
    assert sorted(asked) == sorted(expected)
    row = last_row(patient, "gp")
    assert (row.outcome, row.basis) == ("denied", "")


# -- hub clinician (booking) -------------------------------------------------------------------


def test_hub_clinician_reads_but_cannot_write(client, login):
    hub = User.objects.get(username="hub")
    patient = fresh_patient()
    Referral.objects.create(
        patient=patient, service=hub.service, kind="booking", on=data_today(), source_id="hb-1"
    )
    login("hub")
    for view in ("patient", "care_plan", "care_plan_print", "case_manage"):
        assert client.get(reverse(view, args=[patient.pk])).status_code == 200, view
    assert client.get(reverse("care_plan_edit", args=[patient.pk])).status_code == 403
    case_page = client.get(reverse("case_manage", args=[patient.pk])).content.decode()
    assert "booked to your service" in case_page and 'name="status"' not in case_page
    response = client.post(
        reverse("care_plan_edit", args=[patient.pk]),
        {"what_matters": "x", "goals": "y", "review_date": "2027-05-01"},
    )
    assert response.status_code == 403 and not CarePlan.objects.filter(patient=patient).exists()
    row = last_row(patient, "hub")
    assert (row.outcome, row.basis) == ("denied", "booking")
    assert "care_plan.write not allowed under booking" in row.what
    response = client.post(reverse("case_manage", args=[patient.pk]), {"status": "closed"})
    assert response.status_code == 403 and b"does not allow" in response.content
    assert not CaseRecord.objects.filter(patient=patient, status="closed").exists()
    assert last_row(patient, "hub").outcome == "denied"


# -- relationships granted and ended are audited ------------------------------------------------


def test_naming_a_coordinator_grants_and_ends_with_an_audit_row_each(client, login):
    patient = patients()["related"]
    other = User.objects.create(
        username="coord2",
        first_name="Kim",
        last_name="Lowe",
        role="coordinator",
        scope="neighbourhood",
        scope_org=patient.neighbourhood,
    )
    login("coordinator")
    response = client.post(
        reverse("case_manage", args=[patient.pk]), {"status": "identified", "coordinator": other.pk}
    )
    assert response.status_code == 302
    grant = AuditEvent.objects.get(patient=patient, action="grant")
    end = AuditEvent.objects.get(patient=patient, action="end")
    assert "granted to coord2" in grant.what and "ended for coordinator" in end.what
    member = CareTeamMember.objects.get(patient=patient, user=other, active=True)
    assert (member.added_by.username, member.added_basis) == ("coordinator", grant.basis)
    ended = CareTeamMember.objects.get(
        patient=patient, user__username="coordinator", team_role="coordinator"
    )
    assert not ended.active and ended.ended_at is not None


# -- every relationship ends: the gate holds each to start <= today <= end --------------------
#
# The attacker here is anyone whose relationship was once legitimate: a service a patient was
# booked or referred to months ago, a row whose source was cancelled or removed, a stored end
# somebody moved. Warehouse bookings and referrals are dated in the data, so "today" is the
# app's today for data (records/clock.py): the synthetic locality ends before the wall clock.


def test_every_kind_declares_how_it_ends():
    pol = relationships.policy()
    for code, spec in pol.kinds.items():
        assert spec["ends"] in relationships.ENDS, code
    for code in ("booking", "referral", "mdt"):
        assert pol.kinds[code]["ends"] == "window", code
        first, last = pol.window(code, dt.date(2026, 3, 1))
        assert first <= dt.date(2026, 3, 1) <= last
    base = {
        "actions": {"read": "r"},
        "kind": {"booking": {"label": "b", "actions": ["read"]}},
        "mdt": {"call_days_before_today": 7, "call_days_after_today": 180},
    }
    bad = [
        ({}, "ends must be one of"),  # no end rule at all
        ({"ends": "never"}, "ends must be one of"),
        ({"ends": "window", "days_before": 0}, "days_after must be a whole number"),
        ({"ends": "window", "days_before": 0, "days_after": -1}, "days_after must be"),
        ({"ends": "window", "days_before": 0, "days_after": "28"}, "days_after must be"),
        ({"ends": "window", "days_before": 0, "days_after": True}, "days_after must be"),
        ({"ends": "source", "days_after": 28}, 'need ends = "window"'),
    ]
    for extra, message in bad:
        data = {**base, "kind": {"booking": {"label": "b", "actions": ["read"], **extra}}}
        with pytest.raises(relationships.PolicyError, match=message):
            relationships.parse_policy(data)


def test_the_today_for_data_is_the_data_end_moving_on_with_the_clock():
    from wraparound.apps.records.clock import data_today
    from wraparound.apps.records.models import WarehouseLoad

    today = timezone.localdate()
    world = WarehouseLoad.objects.order_by("-id").first()
    end = dt.date.fromisoformat(world.summary["data_end"])
    assert end < today  # the synthetic locality ends before the wall clock
    assert data_today() == end  # refreshed today: the data end
    later = timezone.now() + dt.timedelta(days=10)
    assert data_today(later) == end + dt.timedelta(days=10)  # a stopped feed does not stop time
    WarehouseLoad.objects.filter(pk=world.pk).update(at=world.at - dt.timedelta(days=3))
    assert data_today() == end + dt.timedelta(days=3)
    live = WarehouseLoad.objects.create(batch=world.batch + 1, summary={"data_end": str(today)})
    assert data_today() == today  # a live feed: today
    WarehouseLoad.objects.filter(pk=live.pk).update(summary={"data_end": "2999-01-01"})
    assert data_today() == today  # bookings ahead never move the clock past today
    WarehouseLoad.objects.filter(pk=live.pk).update(summary={"data_end": "not a date"})
    assert data_today() == today
    WarehouseLoad.objects.filter(pk=live.pk).update(summary={})
    assert data_today() == today  # a refresh from before the data end was recorded


def _patient_urls():
    """Every URL a patient's data is reachable by: the patient URLs (but the glass itself,
    tested above), and the referral thread and its attachments (resolved to their patient)."""
    from url_map import app_urls

    return [
        u
        for u in app_urls()
        if (u.route.startswith("patients/<int:pk>/") and u.name != "break_glass")
        or u.name in ("referral_thread", "referral_attachment")
    ]


def _values(patient) -> dict:
    from url_map import _referral_values

    coordinator = User.objects.get(username="coordinator")
    meeting = MdtMeeting.objects.create(
        team=coordinator.scope_org,
        date=timezone.localdate() - dt.timedelta(days=90),
        chair=coordinator,
    )
    item = AgendaItem.objects.create(meeting=meeting, patient=patient, reason="raised")
    return {
        "pk": patient.pk,
        "item_id": item.pk,
        "meeting": meeting,
        **_referral_values(patient, User.objects.get(username="gp")),
    }


def _sweep(client, patient, username, values, method="get") -> dict[str, tuple[int, list]]:
    """Each patient URL fetched (htmx fragments as htmx asks for them) or posted to:
    {name: (status, [(outcome, username) of its audit rows])}."""
    from url_map import fill

    nurse = User.objects.get(username="nurse")
    form = {
        "status": "identified",
        "member": nurse.pk,
        "coordinator": nurse.pk,
        "what_matters": "x",
        "goals": "y",
        "review_date": "2027-05-01",
        "meeting": values["meeting"].pk,
        "kind": "ltc_review",
        "date": timezone.localdate().isoformat(),
        "action": "message",
        "text": "let me back in",
        "summary": "s",
        "decisions": "d",
    }
    out = {}
    for url in _patient_urls():
        path = fill(url, values)
        before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if method == "get":
            response = client.get(path, HTTP_HX_REQUEST="true")
        else:
            response = client.post(path, form, HTTP_HX_REQUEST="true")
        rows = AuditEvent.objects.filter(id__gt=before).exclude(action__in=("grant", "end"))
        out[url.name] = (response.status_code, [(r.outcome, r.username) for r in rows])
    return out


def _service_row(kind, patient, user, on, end=None, **extra):
    return Referral.objects.create(
        patient=patient,
        service=user.service,
        kind=kind,
        on=on,
        end=end,
        source_id=f"ends-{kind}-{patient.pk}",
        **extra,
    )


READS_OPENED = {  # what a booking or referral in force opens, at least
    "patient",
    "patient_timeline",
    "care_plan",
    "care_plan_print",
    "access_patient_appointments",
    "referrals_patient",
    "referral_thread",
    "referral_attachment",
}


@pytest.mark.parametrize("kind", ["booking", "referral"])
def test_an_ended_service_relationship_opens_no_route(client, login, kind):
    """The same relationship, in force and then ended by date: in force it opens the record,
    timeline, care plan, print, appointments and referrals fragments, referral threads and
    their documents; ended, every patient URL (GET or POST, htmx or not) is refused with one
    ``denied`` row naming the user, nothing is written, and the row stays ended."""
    from wraparound.apps.care.models import ClinicalReview
    from wraparound.apps.referrals.models import Message

    patient = fresh_patient()
    nurse = User.objects.get(username="nurse")  # community service: booked or referred to
    values = _values(patient)
    day = data_today()
    row = _service_row(kind, patient, nurse, on=day)
    login("nurse")
    opened = {
        n for n, (status, _) in _sweep(client, patient, "nurse", values).items() if status == 200
    }
    assert opened >= READS_OPENED, READS_OPENED - opened

    after = relationships.policy().kinds[kind]["days_after"]
    Referral.objects.filter(pk=row.pk).update(on=day - dt.timedelta(days=after + 1))
    assert kinds("nurse", patient) == set()
    for method in ("get", "post"):
        for name, (status, rows) in _sweep(client, patient, "nurse", values, method).items():
            assert status in (403, 405), (method, name, status)
            assert rows == [("denied", "nurse")], (method, name, rows)
    assert not CareTeamMember.objects.filter(patient=patient).exists()
    assert not CarePlan.objects.filter(patient=patient).exists()
    assert not ClinicalReview.objects.filter(patient=patient).exists()
    assert not AgendaItem.objects.filter(patient=patient).exclude(pk=values["item_id"]).exists()
    assert not Message.objects.filter(referral_id=values["referral_id"]).exists()
    row.refresh_from_db()
    assert row.on == day - dt.timedelta(days=after + 1) and row.ended_at is None
    assert kinds("nurse", patient) == set()
    # the refusal offers the glass, which reads for an hour and restores nothing else
    response = client.post(reverse("break_glass", args=[patient.pk]), GLASS)
    assert response.status_code == 302
    assert kinds("nurse", patient) == {"break_glass"}


@pytest.mark.parametrize(
    ("kind", "on", "end", "ended_at", "holds"),
    [
        ("booking", 0, None, False, True),  # the day of the appointment
        ("booking", -28, None, False, True),  # its last day
        ("booking", -29, None, False, False),  # the day after: ended
        ("booking", 1, None, False, False),  # tomorrow's appointment: not yet started
        ("booking", -29, "2099-01-01", False, False),  # a stored end cannot stretch the window
        ("booking", -3, None, True, False),  # ended by a load (its row gone), end not moved
        ("referral", -90, None, False, True),
        ("referral", -91, None, False, False),
        ("referral", -10, -1, False, False),  # closed (discharged) before its 90 days
        ("referral", -10, 0, False, True),  # closed today: today is its last day
        ("referral", 2, None, False, False),  # not yet started
    ],
)
def test_a_service_relationship_holds_only_inside_its_window(kind, on, end, ended_at, holds):
    patient = fresh_patient()
    nurse = User.objects.get(username="nurse")
    day = data_today()
    stored_end = (
        None
        if end is None
        else dt.date.fromisoformat(end)
        if isinstance(end, str)
        else day + dt.timedelta(days=end)
    )
    _service_row(
        kind,
        patient,
        nurse,
        on=day + dt.timedelta(days=on),
        end=stored_end,
        ended_at=timezone.now() if ended_at else None,
    )
    assert kinds("nurse", patient) == ({kind} if holds else set())
    rel = relationships.first_allowing(nurse, patient, "read")
    assert (rel is not None) == holds
    if rel is not None:  # the end the page shows is the one the gate enforces
        assert rel.end <= day + dt.timedelta(
            days=relationships.policy().kinds[kind]["days_after"] + on
        )


def test_a_refusal_for_an_ended_booking_is_audited_like_any_other(client, login):
    """The same 403, ``denied`` row and glass as having no relationship; the page and the
    row also say which relationship ended (or has not started), so a probe after the end
    shows in the audit."""
    patient = fresh_patient()
    nurse = User.objects.get(username="nurse")
    row = _service_row("booking", patient, nurse, on=data_today() - dt.timedelta(days=60))
    login("nurse")
    response = client.get(reverse("patient", args=[patient.pk]))
    html = response.content.decode()
    assert response.status_code == 403 and "break the glass" in html.lower()
    ended = row.on + dt.timedelta(days=28)
    assert f"Your relationship ended on {ended.day} {ended:%B %Y}" in html
    audited = last_row(patient, "nurse")
    assert (audited.action, audited.outcome, audited.basis) == ("denied", "denied", "")
    assert audited.what == "patient record (booking ended)"
    Referral.objects.filter(pk=row.pk).update(on=data_today() + dt.timedelta(days=3))
    html = client.get(reverse("care_plan", args=[patient.pk])).content.decode()
    assert "Your relationship has not started yet" in html
    assert last_row(patient, "nurse").what == "care plan (booking not started)"
    Referral.objects.filter(pk=row.pk).delete()
    client.get(reverse("patient", args=[patient.pk]))
    assert last_row(patient, "nurse").what == "patient record"  # no relationship at all


def test_a_window_relationship_without_its_event_grants_nothing():
    """The gate's own line: a provider that forgets to date a window kind gives nothing."""
    rel = relationships.Relationship("booking", source="a provider with a bug")
    assert relationships.in_force(rel) is None
    dated = relationships.Relationship("booking", source="x", on=timezone.localdate())
    assert relationships.in_force(dated) is not None
    ended = relationships.Relationship("break_glass", source="x", end=timezone.now())
    assert relationships.in_force(ended) is None  # a time is an instant: its end excluded
    later = relationships.Relationship(
        "break_glass", source="x", start=timezone.now() + dt.timedelta(minutes=1)
    )
    assert relationships.in_force(later) is None


def test_a_hub_appointment_ends_days_after_it_even_when_never_closed():
    """An appointment left at ``seen`` (never finished) used to hold for ever."""
    from wraparound.apps.access.hubs import create_hub
    from wraparound.apps.access.models import Appointment, Hub

    patient = fresh_patient()
    clinician = User.objects.get(username="hub")
    hub = Hub.objects.filter(organisation=clinician.service).first()
    hub = hub or create_hub(clinician.service)
    start = timezone.now() - dt.timedelta(days=2)
    Appointment.objects.create(
        patient=patient,
        hub=hub,
        start=start,
        end=start + dt.timedelta(minutes=15),
        status="seen",
        reason="x",
        booking_org=clinician.scope_org,
        mode="face_to_face",
        slot_type="routine",
    )
    last = relationships.policy().kinds["booking"]["days_after"]
    in_window = start + dt.timedelta(days=last)
    assert relationships.first_allowing(clinician, patient, "read", now=in_window).kind == "booking"
    after = start + dt.timedelta(days=last + 1)
    assert relationships.first_allowing(clinician, patient, "read", now=after) is None


# -- re-loads: the source row gone ends it, and nothing re-posted reopens it -------------------

ENC_V = (
    "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty,"
    "updated_at"
)


def _ingest(folder, warehouse, rows: list[str]) -> None:
    from wraparound.sources.ingest import run_ingest

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encounters.csv").write_text("\n".join([ENC_V, *rows]) + "\n")
    assert run_ingest([folder / "encounters.csv"], warehouse, progress=False).ok


def _load(warehouse, only=None) -> int:
    from wraparound.apps.records.load import load_referrals
    from wraparound.warehouse.engine import connect
    from wraparound.warehouse.store import Warehouse

    with connect(Warehouse(warehouse)) as engine:
        return load_referrals(engine, only)


def test_a_reload_ends_bookings_whose_row_went_and_never_reopens_them(
    client, login, app_warehouse, tmp_path
):
    import shutil

    from worlds import _unrelated

    nurse = User.objects.get(username="nurse")
    patient = _unrelated().first()
    only = frozenset({patient.pseudonym})
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    day = data_today()
    on = (day - dt.timedelta(days=2)).isoformat()

    def enc(eid, status, version):
        return (
            f"{eid},{patient.nhs_number},community,{on}T10:00:00Z,{on}T10:30:00Z,,{status},"
            f"home_visit,{nurse.service_id},,,{on}T1{version}:00:00Z"
        )

    _ingest(
        tmp_path / "1", warehouse, [enc("ends-b1", "attended", 1), enc("ends-b2", "attended", 1)]
    )
    _load(warehouse, only)
    rows = Referral.objects.filter(patient=patient).order_by("source_id")
    assert [(r.source_id, r.end, r.ended_at) for r in rows] == [
        (s, day - dt.timedelta(days=2) + dt.timedelta(days=28), None)
        for s in ("ends-b1", "ends-b2")
    ]
    assert kinds("nurse", patient) == {"booking"}
    before = list(Referral.objects.order_by("pk").values_list())
    _load(warehouse, only)  # idempotent: nothing changes, no duplicates
    assert list(Referral.objects.order_by("pk").values_list()) == before

    # The first booking is cancelled at the source: the next load ends it, audited.
    _ingest(tmp_path / "2", warehouse, [enc("ends-b1", "cancelled", 2)])
    _load(warehouse, only)
    b1 = Referral.objects.get(source_id="ends-b1")
    assert b1.ended_at is not None and b1.end == day - dt.timedelta(days=1)
    assert b1.ended_reason.startswith("cancelled")
    end_row = AuditEvent.objects.get(patient=patient, action="end", what__contains="ends-b1")
    assert end_row.username == "warehouse load" and "booking ended" in end_row.what
    assert kinds("nurse", patient) == {"booking"}  # the second still holds

    # The second is gone from the warehouse (a rebuild without it): a full load ends it.
    _load(app_warehouse)
    b2 = Referral.objects.get(source_id="ends-b2")
    assert b2.ended_reason.startswith("removed from the warehouse")
    assert kinds("nurse", patient) == set()
    login("nurse")
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    assert last_row(patient, "nurse").outcome == "denied"

    # Re-posting both rows as they were (a resend, a replayed feed) reopens neither.
    _ingest(
        tmp_path / "3", warehouse, [enc("ends-b1", "attended", 3), enc("ends-b2", "attended", 3)]
    )
    ended = list(Referral.objects.filter(patient=patient).order_by("pk").values_list())
    _load(warehouse, only)
    _load(warehouse)
    assert list(Referral.objects.filter(patient=patient).order_by("pk").values_list()) == ended
    assert kinds("nurse", patient) == set()
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    assert AuditEvent.objects.filter(patient=patient, action="end").count() == 2


def test_covers_practice_answers_as_the_practices_query_does_for_every_scope():
    """The relationship checks judge a patient's practice in Python (``covers_practice``)
    rather than asking ``practices()`` again: for every scope, a user's answer must be the
    query's for every organisation (practices in and out of scope, neighbourhoods, hubs,
    trusts) and for no practice at all."""
    from wraparound.apps.records.models import Organisation
    from wraparound.vocabulary import SCOPE_LABELS

    # Another neighbourhood with a practice of its own, so that no scope covers everything.
    top = Organisation.objects.filter(parent=None).first()
    other = Organisation.objects.create(
        org_id="NX001", name="Other", kind="neighbourhood", parent=top
    )
    Organisation.objects.create(org_id="PX001", name="Elsewhere", kind="practice", parent=other)
    orgs = list(Organisation.objects.all())
    kinds_seen = {o.kind for o in orgs}
    assert {"practice", "neighbourhood"} <= kinds_seen and len(kinds_seen) > 2
    base = User.objects.get(username="gp")
    scopes = {}
    for scope in SCOPE_LABELS:
        anchor = {
            "practice": base.scope_org,
            "neighbourhood": base.scope_org.parent or base.scope_org,
        }.get(scope, next(o for o in orgs if o.parent_id is None))
        scopes[scope] = User(username=f"x-{scope}", role="gp", scope=scope, scope_org=anchor)
    assert len(scopes) >= 3
    for scope, user in scopes.items():
        inside = set(user.practices().values_list("pk", flat=True))
        assert inside, scope
        if scope != "locality":
            assert "PX001" not in inside, scope
        for org in orgs:
            assert user.covers_practice(org) == (org.pk in inside), (scope, org.pk, org.kind)
        assert user.covers_practice(None) is False
