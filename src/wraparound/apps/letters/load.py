"""``wraparound app refresh`` step: expected letters from the warehouse's contacts, met by
the warehouse's ``letters`` rows, then escalation of the long-overdue.

A contact needs a letter when ``data/letters.toml`` names its kind and status; it is dated
by its start (or, for an admission, its end: the discharge), in Europe/London. Contacts
older than ``lookback_days`` before the newest such contact are left out. A letter meets the
expected letter of the contact it names (``encounter_id``) or, failing that, the earliest
unmatched one of the same patient from the same provider on or before the letter's date
(the contact it is about started before it was written). Only patients in the app's patient
index are loaded. With ``only`` (the patients a warehouse batch touched: an incremental
refresh) only those patients' letters are reloaded; the result is the same as a full load.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict

import pyarrow as pa
from django.db import transaction
from django.utils import timezone

from wraparound import clinical
from wraparound.apps.care.models import CaseRecord, Task
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.letters.rules import add_operational_days, operational_days_between, rules
from wraparound.apps.records.models import Organisation, Patient, User

LONDON = zoneinfo.ZoneInfo("Europe/London")
BATCH = 5000
TASK_SOURCE = "letters"


def _local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LONDON).date()


def expected_rows(engine, only: frozenset[str] | None = None) -> list[dict]:
    """The contacts that need a letter, with their matching letter (if any), as dicts."""
    r = rules()
    enc = engine.table("encounters")
    wanted = None
    for kind, rule in r["kinds"].items():
        cond = (enc.kind == kind) & enc.status.isin(rule["statuses"])
        wanted = cond if wanted is None else wanted | cond
    enc = enc.filter(wanted)
    let = engine.table("letters")
    if only is not None:
        pids = engine.memtable(pa.table({"pid": pa.array(sorted(only), pa.string())}))
        enc = enc.join(pids, enc.patient_id == pids.pid).drop("pid")
        let = let.join(pids, let.patient_id == pids.pid).drop("pid")
    contacts = engine.to_arrow(
        enc.select("id", "patient_id", "kind", "start", "end", "org_id", "specialty")
    ).to_pylist()
    letters = engine.to_arrow(
        let.select("id", "patient_id", "org_id", "encounter_id", "date")
    ).to_pylist()
    rows = []
    for c in contacts:
        at = c["end"] if r["kinds"][c["kind"]]["from"] == "end" else c["start"]
        if at is None:  # an admission not yet discharged: no letter due yet
            continue
        rows.append({**c, "at": at})
    if rows:
        newest = max(row["at"] for row in rows)
        rows = [row for row in rows if row["at"] >= newest - dt.timedelta(days=r["lookback"])]
    by_encounter = {row["id"]: row for row in rows}
    taken: set[str] = set()
    for letter in sorted(letters, key=lambda x: (x["date"], x["id"])):
        row = by_encounter.get(letter["encounter_id"])
        if row is not None and row["patient_id"] == letter["patient_id"] and "letter" not in row:
            row["letter"] = letter
            taken.add(row["id"])
    loose = defaultdict(list)  # (patient, provider) -> contacts without a letter yet
    for row in sorted(rows, key=lambda x: (x["at"], x["id"])):
        if row["id"] not in taken:
            loose[(row["patient_id"], row["org_id"])].append(row)
    for letter in sorted(letters, key=lambda x: (x["date"], x["id"])):
        if letter["encounter_id"] in by_encounter and letter["encounter_id"] in taken:
            continue
        for row in loose.get((letter["patient_id"], letter["org_id"]), ()):
            if "letter" not in row and row["start"] <= letter["date"]:
                row["letter"] = letter
                break
    return rows


def has_feed(engine) -> bool:
    """Whether any letter has ever arrived through ingest: a warehouse without a letters
    feed (no provider sends them yet) expects none, rather than every contact overdue."""
    let = engine.table("letters")
    return bool(engine.to_arrow(let.aggregate(n=let.count()))["n"][0].as_py())


def load_letters(engine, only: frozenset[str] | None = None) -> dict:
    """Upsert the expected letters (all, or of ``only``'s patients), then escalate.
    Returns counts for the refresh summary."""
    r = rules()
    if not has_feed(engine):
        return {"expected": 0, "escalated": 0, "feed": False}
    rows = expected_rows(engine, only)
    patients = dict(Patient.objects.values_list("pseudonym", "pk"))
    practice_of = dict(Patient.objects.values_list("pk", "practice_id"))
    names = dict(Organisation.objects.values_list("org_id", "name"))
    specialties = clinical.treatment_functions()
    objects = []
    for row in rows:
        pk = patients.get(row["patient_id"])
        if pk is None:
            continue
        day = _local_day(row["at"])
        due = add_operational_days(day, r["due"])
        letter = row.get("letter")
        received = letter["date"] if letter else None
        label = r["kinds"][row["kind"]]["label"]
        service = specialties.get(row["specialty"], row["specialty"]) if row["specialty"] else label
        objects.append(
            ExpectedLetter(
                patient_id=pk,
                practice_id=practice_of.get(pk),
                encounter_id=row["id"],
                kind=row["kind"],
                provider_id=row["org_id"] or "",
                provider_name=names.get(row["org_id"], row["org_id"] or "Unknown provider"),
                service=str(service)[:100],
                contact_at=row["at"],
                due=due,
                received_at=received,
                letter_id=letter["id"] if letter else "",
                on_time=received is not None and _local_day(received) <= due,
            )
        )
    with transaction.atomic():
        if only is None:
            ExpectedLetter.objects.exclude(
                encounter_id__in=[o.encounter_id for o in objects]
            ).filter(escalated_at__isnull=True).delete()
        for start in range(0, len(objects), BATCH):
            ExpectedLetter.objects.bulk_create(
                objects[start : start + BATCH],
                update_conflicts=True,
                unique_fields=["encounter_id"],
                update_fields=[
                    "patient", "practice", "kind", "provider_id", "provider_name", "service",
                    "contact_at", "due", "received_at", "letter_id", "on_time",
                ],
            )  # fmt: skip
        # A letter that came after all closes the task it had raised.
        Task.objects.filter(
            pk__in=ExpectedLetter.objects.filter(received_at__isnull=False).values("task_id"),
            done_at__isnull=True,
        ).update(done_at=timezone.now())
    return {"expected": len(objects), "escalated": escalate(), "feed": True}


def coordinator_for(letter: ExpectedLetter):
    """The patient's care co-ordinator (their case record's), else a care co-ordinator of
    the practice's neighbourhood, else nobody (the practice's task queue)."""
    case = CaseRecord.objects.filter(patient_id=letter.patient_id).first()
    if case is not None and case.coordinator_id:
        return case.coordinator
    if letter.practice_id is None:
        return None
    practice = letter.practice
    return (
        User.objects.filter(role="coordinator", is_active=True)
        .filter(scope_org_id__in=[practice.pk, practice.parent_id])
        .order_by("pk")
        .first()
    )


def escalate(today: dt.date | None = None) -> int:
    """Letters still missing ``escalate_after_days`` operational days after they were due
    become one task each for the practice's care co-ordinator (once), while they are at most
    ``escalate_within_days`` overdue (older history is on the dashboard). Returns how many."""
    today = today or timezone.localdate()
    after, within = rules()["escalate"], rules()["escalate_within"]
    made = 0
    late = ExpectedLetter.objects.filter(
        received_at__isnull=True,
        escalated_at__isnull=True,
        due__lt=today,
        due__gte=today - dt.timedelta(days=within * 7 // 5 + 7),  # a bound; checked below
    ).select_related("patient", "practice")
    for letter in late:
        overdue = operational_days_between(letter.due, today)
        if overdue < after or overdue > within:
            continue
        with transaction.atomic():
            task = Task.objects.create(
                assignee=coordinator_for(letter),
                patient=letter.patient,
                what=(
                    f"Chase the letter from {letter.provider_name} about the "
                    f"{letter.service.lower()} on {_local_day(letter.contact_at):%d %b %Y}: "
                    f"due {letter.due:%d %b %Y}, not received"
                )[:300],
                due=today,
                source=TASK_SOURCE,
            )
            letter.escalated_at = timezone.now()
            letter.task = task
            letter.save(update_fields=["escalated_at", "task"])
        made += 1
    return made
