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

import ibis
import polars as pl
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from wraparound import clinical
from wraparound.apps.care.models import CaseRecord, Task
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.letters.rules import add_operational_days, operational_days_between, rules
from wraparound.apps.records import bulk, lookup
from wraparound.apps.records.models import Organisation, User

LONDON = zoneinfo.ZoneInfo("Europe/London")
BATCH = 5000
TASK_SOURCE = "letters"


def _local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LONDON).date()


def _contacts(engine, only: frozenset[str] | None = None):
    """The warehouse's contacts that need a letter (``data/letters.toml``), of ``only``'s
    patients if given, and the kinds counted from their end."""
    r = rules()
    enc = engine.table("encounters") if only is None else engine.rows_of("encounters", only)
    wanted = None
    for kind, rule in r["kinds"].items():
        cond = (enc.kind == kind) & enc.status.isin(rule["statuses"])
        wanted = cond if wanted is None else wanted | cond
    return enc.filter(wanted), [k for k, rule in r["kinds"].items() if rule["from"] == "end"]


def newest_contact(engine) -> dt.datetime | None:
    """The moment the newest contact needing a letter is counted from: the look-back counts
    back from it, for everyone alike."""
    enc, from_end = _contacts(engine)
    at = ibis.ifelse(enc.kind.isin(from_end), enc.end, enc.start)
    return engine.to_arrow(enc.aggregate(newest=at.max()))["newest"][0].as_py()


def _frames(engine, only: frozenset[str] | None, newest: dt.datetime | None = None):
    """The contacts that need a letter (with ``at``, the moment the letter is counted from)
    and the letters, as polars frames; of ``only``'s patients if given (``newest``, the
    warehouse's newest contact, then sets the look-back)."""
    r = rules()
    enc, from_end = _contacts(engine, only)
    let = engine.table("letters") if only is None else engine.rows_of("letters", only)
    contacts = pl.from_arrow(
        engine.to_arrow(
            enc.select("id", "patient_id", "kind", "start", "end", "org_id", "specialty")
        )
    )
    letters = pl.from_arrow(
        engine.to_arrow(let.select("id", "patient_id", "org_id", "encounter_id", "date"))
    )
    contacts = contacts.with_columns(
        at=pl.when(pl.col("kind").is_in(from_end)).then(pl.col("end")).otherwise(pl.col("start"))
    ).filter(pl.col("at").is_not_null())  # an admission not yet discharged: no letter yet
    if contacts.height:
        newest = newest if newest is not None else contacts["at"].max()
        contacts = contacts.filter(pl.col("at") >= newest - dt.timedelta(days=r["lookback"]))
    return contacts, letters


def expected_frame(
    engine, only: frozenset[str] | None = None, newest: dt.datetime | None = None
) -> pl.DataFrame:
    """The contacts that need a letter, with their matching letter's ``letter_id`` and
    ``received`` (null when none). A letter meets the contact it names (the earliest such
    letter by date, then id); a letter naming no contact of its patient meets the earliest
    (by ``at``, then id) unmatched contact of the same patient and provider that started on or
    before it, letters taken in date order. The first rule is joins; only letters left over
    from it are matched one by one."""
    contacts, letters = _frames(engine, only, newest)
    letters = letters.sort(["date", "id"])
    direct = (
        letters.join(
            contacts.select(encounter_id="id", patient_id="patient_id"),
            on=["encounter_id", "patient_id"],
            how="inner",
        )
        .sort(["date", "id"])
        .unique("encounter_id", keep="first", maintain_order=True)
        .select(cid="encounter_id", letter_id="id", received="date")
    )
    taken = direct["cid"]
    # A letter naming a contact another letter met is not matched again.
    rest = letters.filter(
        pl.col("encounter_id").is_null() | ~pl.col("encounter_id").is_in(taken.implode())
    )
    loose = []
    if rest.height:
        sentinel = "\x00"
        pairs = rest.select("patient_id", org=pl.col("org_id").fill_null(sentinel)).unique()
        candidates = (
            contacts.filter(~pl.col("id").is_in(taken.implode()))
            .with_columns(org=pl.col("org_id").fill_null(sentinel))
            .join(pairs, on=["patient_id", "org"], how="semi")
            .sort(["at", "id"])
        )
        groups: dict[tuple, list[list]] = defaultdict(list)
        for cid, pid, org, start in candidates.select(
            "id", "patient_id", "org", "start"
        ).iter_rows():
            groups[(pid, org)].append([cid, start, False])
        for lid, pid, org, date in rest.select(
            "id", "patient_id", pl.col("org_id").fill_null(sentinel), "date"
        ).iter_rows():
            for row in groups.get((pid, org), ()):
                if not row[2] and row[1] <= date:
                    row[2] = True
                    loose.append((row[0], lid, date))
                    break
    matched = pl.concat(
        [
            direct,
            pl.DataFrame(
                loose,
                schema={
                    "cid": pl.String,
                    "letter_id": pl.String,
                    "received": direct["received"].dtype,
                },
                orient="row",
            ),
        ]
    )
    return contacts.join(matched, left_on="id", right_on="cid", how="left")


def _local_days(column: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone("Europe/London").dt.date()


def has_feed(engine) -> bool:
    """Whether any letter has ever arrived through ingest: a warehouse without a letters
    feed (no provider sends them yet) expects none, rather than every contact overdue."""
    let = engine.table("letters")
    return bool(engine.to_arrow(let.aggregate(n=let.count()))["n"][0].as_py())


LETTER_FIELDS = (
    "patient", "practice", "encounter_id", "kind", "provider_id", "provider_name", "service",
    "contact_at", "due", "received_at", "letter_id", "on_time",
)  # fmt: skip


def letter_rows(frame: pl.DataFrame, r: dict) -> pl.DataFrame:
    """``expected_frame``'s contacts as ``ExpectedLetter`` rows (a column per
    ``LETTER_FIELDS``), of the patients the app holds: the due date counted in operational
    days from the contact's local day, the provider's name, the service (the specialty's
    name, else the kind's label), and whether the letter came by the due date. Made in
    polars, column by column: row by row in Python it was a fifth of a first load's time."""
    people = lookup.by_pseudonym(frame["patient_id"].unique(), "pk", "practice_id")
    patients = pl.DataFrame(
        {
            "patient_id": list(people),
            "patient": [pk for pk, _ in people.values()],
            "practice": [practice for _, practice in people.values()],
        },
        schema={"patient_id": pl.String, "patient": pl.Int64, "practice": pl.String},
    )
    names = pl.DataFrame(
        list(Organisation.objects.values_list("org_id", "name")),
        schema={"org_id": pl.String, "provider_name": pl.String},
        orient="row",
    )
    frame = frame.join(patients, on="patient_id", how="inner", maintain_order="left")
    frame = frame.with_columns(day=_local_days("at"), received_day=_local_days("received"))
    days = frame["day"].unique().drop_nulls().to_list()
    dues = pl.DataFrame(
        {"day": days, "due": [add_operational_days(d, r["due"]) for d in days]},
        schema={"day": pl.Date, "due": pl.Date},
    )
    labels = {kind: rule["label"] for kind, rule in r["kinds"].items()}
    org = pl.when(pl.col("org_id") != "").then(pl.col("org_id"))
    specialty = pl.col("specialty")
    service = (
        pl.when(specialty.is_not_null() & (specialty != ""))
        .then(specialty.replace(clinical.treatment_functions()))
        .otherwise(pl.col("kind").replace_strict(labels, return_dtype=pl.String))
    )
    return (
        frame.join(dues, on="day", how="left", maintain_order="left")
        .join(names, on="org_id", how="left", maintain_order="left")
        .select(
            "patient",
            "practice",
            encounter_id="id",
            kind="kind",
            provider_id=pl.col("org_id").fill_null(""),
            provider_name=pl.coalesce("provider_name", org, pl.lit("Unknown provider")),
            service=service.str.slice(0, 100),
            contact_at="at",
            due="due",
            received_at="received",
            letter_id=pl.col("letter_id").fill_null(""),
            on_time=(
                pl.col("received").is_not_null() & (pl.col("received_day") <= pl.col("due"))
            ).fill_null(False),
        )
    )


def load_letters(engine, only: frozenset[str] | None = None) -> dict:
    """Upsert the expected letters (all, or of ``only``'s patients), then escalate, in one
    bulk write (``records/bulk.py``: an unchanged letter is not written). Returns counts for
    the refresh summary."""
    r = rules()
    if not has_feed(engine):
        return {"expected": 0, "escalated": 0, "feed": False}
    newest = newest_contact(engine) if only is not None else None
    if only is not None:
        held = ExpectedLetter.objects.aggregate(at=Max("contact_at"))["at"]
        # Load everyone's when the feed's first letters come (every contact is expected
        # from now on), or when the newest contact went back (a cancelled one), moving the
        # look-back back for everyone.
        if held is None or newest is None or held > newest:
            only = None
    rows = letter_rows(expected_frame(engine, only, newest), r)
    aged: set[str] = set()
    with transaction.atomic():
        if only is None:
            bulk.delete_missing(
                ExpectedLetter, "encounter_id", rows["encounter_id"], where="escalated_at IS NULL"
            )
        else:
            _delete_missing_of(only, set(rows["encounter_id"]))
            aged = _delete_aged(newest - dt.timedelta(days=r["lookback"]))
        bulk.upsert(
            ExpectedLetter,
            LETTER_FIELDS,
            rows,
            key=["encounter_id"],
            update=[f for f in LETTER_FIELDS if f != "encounter_id"],
        )
        # A letter that came after all closes the task it had raised.
        Task.objects.filter(
            pk__in=ExpectedLetter.objects.filter(received_at__isnull=False).values("task_id"),
            done_at__isnull=True,
        ).update(done_at=timezone.now())
    return {
        "expected": rows.height,
        "escalated": escalate(),
        "feed": True,
        "touched_only": only is not None,
        "aged_patients": frozenset(aged),
    }


def _delete_missing_of(only: frozenset[str], kept: set[str]) -> None:
    """The touched patients' expected letters whose contact no longer needs one (cancelled,
    deleted, or out of the look-back), as a full load deletes them; escalated ones stay, as
    there."""
    pseudonyms = sorted(only)
    for i in range(0, len(pseudonyms), BATCH):
        stale = [
            pk
            for pk, encounter_id in ExpectedLetter.objects.filter(
                patient__pseudonym__in=pseudonyms[i : i + BATCH], escalated_at__isnull=True
            ).values_list("pk", "encounter_id")
            if encounter_id not in kept
        ]
        for j in range(0, len(stale), BATCH):
            ExpectedLetter.objects.filter(pk__in=stale[j : j + BATCH]).delete()


def _delete_aged(cutoff: dt.datetime) -> set[str]:
    """Delete everyone's expected letters (not escalated) of contacts before ``cutoff``: the
    newest contact moved on, and the look-back with it, as a full load would find. Returns
    their patients' pseudonyms (their app events change)."""
    aged = ExpectedLetter.objects.filter(contact_at__lt=cutoff, escalated_at__isnull=True)
    patients = set(aged.order_by().values_list("patient__pseudonym", flat=True).distinct())
    if patients:
        aged.delete()
    return patients


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
