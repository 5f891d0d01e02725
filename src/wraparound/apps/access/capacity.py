"""Build the capacity ledger and the access-standards rows (``ledger_models.py``).

``refresh_ledger`` reads every slot and appointment once, adds them up by organisation,
Europe/London week and split in Python (a year of a locality's hub activity is tens of
thousands of rows), and replaces all ledger rows in one transaction. It runs from
``wraparound app refresh`` and after the demo seeds hub activity; the dashboards only read
what it wrote (docs/access.md, "Capacity ledger").

Formulas (tested by hand-worked cases in tests/app/test_access_capacity.py):

- minutes per 1,000 per week = minutes in the week x 1,000 / registered patients;
- a hub's and a neighbourhood's registered population is the neighbourhood's list; a
  practice's is its own list, and it is offered its neighbourhood's hub minutes in
  proportion to that list (so its offered rate is its neighbourhood's);
- utilisation = minutes used / minutes offered; DNA rate = DNAs / (attended + DNAs).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from django.db import transaction
from django.db.models import Count

from wraparound.apps.access import gpad, standards
from wraparound.apps.access.ledger_models import CapacityWeek, LedgerRefresh, StandardsWeek
from wraparound.apps.access.models import Appointment, AppointmentSlot, Hub, Slot
from wraparound.apps.records.models import Organisation, Patient

ATTENDED = standards.ATTENDED
CANCELLED = ("cancelled_patient", "cancelled_practice")
SLOT_SPLITS = ("hours", "mode", "role")
FIELDS = (
    "minutes_offered",
    "minutes_booked",
    "minutes_used",
    "minutes_dna",
    "appointments",
    "attended",
    "dna",
    "cancelled",
    "late_cancelled",
)


def _minutes(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 60


def _week(start: dt.datetime) -> dt.date:
    return standards.week_start(start.astimezone(standards.LONDON).date())


def registered_lists() -> tuple[Counter, Counter]:
    """Registered patients (living) by practice and by neighbourhood, from the patient
    index."""
    practices: Counter = Counter()
    neighbourhoods: Counter = Counter()
    living = Patient.objects.filter(death_date__isnull=True)
    # Counted by the database (one row per practice), not patient by patient in Python.
    for practice, neighbourhood, n in (
        living.values_list("practice_id", "neighbourhood_id")
        .annotate(n=Count("id"))
        .values_list("practice_id", "neighbourhood_id", "n")
        .order_by()
    ):
        if practice:
            practices[practice] += n
        if neighbourhood:
            neighbourhoods[neighbourhood] += n
    return practices, neighbourhoods


def _slot_rows(cells: dict) -> int:
    hubs = dict(Hub.objects.values_list("pk", "organisation_id"))
    hub_nb = dict(Hub.objects.values_list("pk", "neighbourhood_id"))
    slots = Slot.objects.exclude(status="blocked").values_list(
        "hub_id", "start", "end", "role", "mode"
    )
    n = 0
    for hub_id, start, end, role, mode in slots.iterator(chunk_size=5000):
        n += 1
        week, minutes = _week(start), _minutes(start, end)
        values = {"hours": standards.hours_band(start), "mode": mode, "role": role}
        for level, org in (("hub", hubs[hub_id]), ("neighbourhood", hub_nb[hub_id])):
            cells[(level, org, week, "all", "")]["minutes_offered"] += minutes
            for split in SLOT_SPLITS:
                cells[(level, org, week, split, values[split])]["minutes_offered"] += minutes
    return n


def _first_roles() -> dict[int, str]:
    """The HCP role of each appointment's first slot."""
    roles: dict[int, str] = {}
    holds = AppointmentSlot.objects.order_by("appointment_id", "slot__start").values_list(
        "appointment_id", "slot__role"
    )
    for appointment_id, role in holds.iterator(chunk_size=5000):
        roles.setdefault(appointment_id, role)
    return roles


def _add_appointment(counter: Counter, status: str, minutes: float, late: bool) -> None:
    if status in CANCELLED:
        counter["cancelled"] += 1
        counter["late_cancelled"] += int(late)
        return
    counter["appointments"] += 1
    counter["minutes_booked"] += minutes
    if status in ATTENDED:
        counter["attended"] += 1
        counter["minutes_used"] += minutes
    elif status == "did_not_attend":
        counter["dna"] += 1
        counter["minutes_dna"] += minutes


def _appointment_rows(cells: dict, outcomes: dict) -> int:
    roles = _first_roles()
    rows = Appointment.objects.values_list(
        "pk",
        "hub__organisation_id",
        "hub__neighbourhood_id",
        "patient__practice_id",
        "start",
        "end",
        "status",
        "mode",
        "slot_type",
        "booked_at",
        "national_category",
        "late_cancellation",
        "need",
        "help_requested_at",
    )
    n = 0
    for (
        pk,
        hub_org,
        nb,
        practice,
        start,
        end,
        status,
        mode,
        slot_type,
        booked_at,
        category,
        late,
        need,
        requested_at,
    ) in rows.iterator(chunk_size=5000):
        n += 1
        week, minutes = _week(start), _minutes(start, end)
        days = max(0, gpad.lead_days(booked_at, start))
        values = {
            "hours": standards.hours_band(start),
            "mode": mode,
            "role": roles.get(pk, ""),
            "lead_time": gpad.lead_bucket(days),
            "national_category": category or gpad.default_national_category(slot_type, mode),
        }
        levels = [("hub", hub_org), ("neighbourhood", nb)]
        if practice:
            levels.append(("practice", practice))
        outcome = standards.standard_outcome(need, requested_at, start, status)
        for level, org in levels:
            _add_appointment(cells[(level, org, week, "all", "")], status, minutes, late)
            for split, value in values.items():
                _add_appointment(cells[(level, org, week, split, value)], status, minutes, late)
            if outcome is not None:
                standard_id = standards.access_standards()[need].id
                outcomes[(level, org, week, standard_id)][outcome] += 1
    return n


def _offer_practices(cells: dict, practices: Counter, neighbourhoods: Counter) -> None:
    """Each practice's share of its neighbourhood's offered minutes, by its list."""
    parents = dict(Organisation.objects.filter(kind="practice").values_list("org_id", "parent_id"))
    by_nb: dict[str, list[str]] = defaultdict(list)
    for practice, parent in parents.items():
        if practices.get(practice):
            by_nb[parent].append(practice)
    for (level, org, week, split, value), counter in list(cells.items()):
        if level != "neighbourhood" or split not in ("all", *SLOT_SPLITS):
            continue
        total = neighbourhoods.get(org, 0)
        offered = counter["minutes_offered"]
        if not total or not offered:
            continue
        for practice in by_nb.get(org, ()):
            share = offered * practices[practice] / total
            cells[("practice", practice, week, split, value)]["minutes_offered"] += share


@transaction.atomic
def refresh_ledger() -> dict:
    """Rebuild every ``CapacityWeek`` and ``StandardsWeek`` row; returns a summary."""
    practices, neighbourhoods = registered_lists()
    hub_nb = dict(Hub.objects.values_list("organisation_id", "neighbourhood_id"))
    cells: dict = defaultdict(Counter)
    outcomes: dict = defaultdict(Counter)
    n_slots = _slot_rows(cells)
    n_appointments = _appointment_rows(cells, outcomes)
    _offer_practices(cells, practices, neighbourhoods)

    def registered(level: str, org: str) -> int:
        if level == "practice":
            return practices.get(org, 0)
        if level == "hub":
            return neighbourhoods.get(hub_nb.get(org), 0)
        return neighbourhoods.get(org, 0)

    CapacityWeek.objects.all().delete()
    StandardsWeek.objects.all().delete()
    CapacityWeek.objects.bulk_create(
        (
            CapacityWeek(
                level=level,
                organisation_id=org,
                week_start=week,
                split=split,
                value=value,
                registered=registered(level, org),
                **{f: counter.get(f, 0) for f in FIELDS},
            )
            for (level, org, week, split, value), counter in sorted(cells.items())
        ),
        batch_size=2000,
    )
    StandardsWeek.objects.bulk_create(
        (
            StandardsWeek(
                level=level,
                organisation_id=org,
                week_start=week,
                standard=standard_id,
                **{k: counter.get(k, 0) for k in ("met", "not_met", "pending", "not_measurable")},
            )
            for (level, org, week, standard_id), counter in sorted(outcomes.items())
        ),
        batch_size=2000,
    )
    capacity_version = standards.capacity_file()[0]
    summary = {
        "slots": n_slots,
        "appointments": n_appointments,
        "capacity_rows": len(cells),
        "standards_rows": len(outcomes),
        "capacity_standards_version": capacity_version,
        "gpad_version": gpad.gpad().version,
    }
    LedgerRefresh.objects.create(summary=summary)
    return summary
