"""Copy organisations and the patient index from the warehouse into the app database.

Analytics tables hold pseudonyms only; the direct-care ``identity`` table (fed by FHIR
Patient and the CSV patients file, read through ``warehouse/identity.py``, never through the
engine) supplies NHS number and name, joined here by pseudonym. Heavy work
(current practice, conditions, last A&E and admission per patient) runs once here, through
the engine interface, so request handlers only ever read indexed rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import polars as pl
import pyarrow as pa
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from wraparound.apps.records import bulk, lookup
from wraparound.apps.records.clock import load_day
from wraparound.apps.records.models import AuditEvent, Organisation, Patient, Referral
from wraparound.apps.records.relationships import policy
from wraparound.clinical import allergies as allergy_codes
from wraparound.clinical import registers
from wraparound.warehouse.identity import read_identity

BATCH = 5000


def load_organisations(engine) -> int:
    """Upsert every organisation in one bulk write (``bulk.upsert``: unchanged rows are not
    written). A parent the warehouse does not hold is left empty; the foreign keys are checked
    at commit, so parents need not come first."""
    orgs = engine.to_arrow(
        engine.table("organisations").select("org_id", "name", "kind", "parent_id")
    ).to_pylist()
    by_id = {o["org_id"] for o in orgs}
    rows = {
        o["org_id"]: (
            o["org_id"],
            o["name"] or o["org_id"],
            o["kind"],
            o["parent_id"] if o["parent_id"] in by_id else None,
        )
        for o in orgs
    }
    with transaction.atomic():
        bulk.upsert(Organisation, ORG_FIELDS, rows.values(), key=["org_id"])
    return len(orgs)


ORG_FIELDS = ("org_id", "name", "kind", "parent")


def _register_codes() -> pa.Table:
    rows = [(code, reg.name) for reg in registers() if reg.rule == "codes" for code in reg.codes]
    return pa.table({"code": [c for c, _ in rows], "register": [n for _, n in rows]})


def _only(engine, name: str, only: frozenset[str] | None):
    """Table ``name``'s rows of the patients ``only`` (all rows when ``None``), read once
    per refresh (``engine.rows_of``)."""
    return engine.table(name) if only is None else engine.rows_of(name, only)


def patient_frame(
    engine,
    warehouse_dir: Path,
    only: frozenset[str] | None = None,
    allergy_practices: set[str] | None = None,
) -> pl.DataFrame:
    """One row per patient (of ``only``, when given): identity, demographics, current
    practice and neighbourhood, register conditions, last A&E attendance and emergency
    admission."""
    pats = _only(engine, "patients", only).select(
        "patient_id", "birth_date", "sex", "death_date", "opted_out"
    )
    reg = _only(engine, "registrations", only)
    current = (
        reg.filter(reg.end_date.isnull())
        .group_by("patient_id")
        .agg(practice_id=reg.practice_id.max())
    )
    cond = _only(engine, "conditions", only)
    codes = engine.memtable(_register_codes())
    on_register = (
        cond.join(codes, cond.code == codes.code)
        .group_by("patient_id")
        .agg(conditions=codes.register.collect(distinct=True))
    )
    enc = _only(engine, "encounters", only)
    last = enc.group_by("patient_id").agg(
        last_ae=enc.start.max(where=enc.kind == "ae_attendance"),
        last_admission=enc.start.max(where=enc.kind == "emergency_admission"),
    )
    expr = (
        pats.left_join(current, pats.patient_id == current.patient_id)
        .left_join(on_register, pats.patient_id == on_register.patient_id)
        .left_join(last, pats.patient_id == last.patient_id)
        .select(
            pats, current.practice_id, on_register.conditions, last.last_ae, last.last_admission
        )
    )
    frame = pl.from_arrow(engine.to_arrow(expr))
    frame = frame.join(allergy_lists(engine, only), on="patient_id", how="left").with_columns(
        allergy_data=pl.col("practice_id").is_in(
            pl.Series(
                sorted(
                    practices_with_allergies(engine)
                    if allergy_practices is None
                    else allergy_practices
                ),
                dtype=pl.String,
            ).implode()
        )
    )
    # One identity per pseudonym: two source records of one NHS number, newest first.
    identity = pl.from_arrow(
        read_identity(
            engine.warehouse,
            columns=["patient_id", "nhs_number", "given_name", "family_name", "updated_at"],
        )
    )
    if only is not None:  # an incremental refresh sorts the touched patients' identities only
        wanted = pl.Series(sorted(only), dtype=pl.String).implode()
        identity = identity.filter(pl.col("patient_id").is_in(wanted))
    identity = (
        # The app finds and shows patients by NHS number: a record without one (a source
        # that keys patients by a local id only) stays in the warehouse but not in the app.
        identity.filter(pl.col("nhs_number").is_not_null())
        .sort("updated_at", descending=True, nulls_last=True)
        .unique("patient_id", keep="first", maintain_order=True)
        .drop("updated_at")
    )
    # Two source records of one patient (one NHS number) are one patient in the app.
    frame = frame.unique("patient_id", keep="first", maintain_order=True)
    return frame.join(identity, on="patient_id", how="inner")


PATIENT_FIELDS = (
    "pseudonym",
    "nhs_number",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "death_date",
    "opted_out",
    "practice",
    "neighbourhood",
    "conditions",
    "last_ae",
    "last_admission",
    "allergies",
)

_SYSTEM_NAMES = {"snomed": "SNOMED CT", "dmd": "dm+d", "rxnorm": "RxNorm", "read2": "Read v2"}
_STATUS_ORDER = {"active": 0, "inactive": 1, "resolved": 2}
ALLERGY_KEYS = (
    "name",
    "system",
    "code",
    "status",
    "verification",
    "type",
    "category",
    "criticality",
    "reaction",
    "severity",
    "recorded",
    "no_known",
)
"""The keys of each allergy the patient index holds (``Patient.allergies``)."""


_ALLERGY_COLUMNS = (
    "patient_id", "system", "code", "display", "clinical_status", "verification_status", "type",
    "category", "criticality", "reaction_display", "reaction_severity", "recorded_date",
)  # fmt: skip


def allergy_lists(engine, only: frozenset[str] | None = None) -> pl.DataFrame:
    """``patient_id`` and ``allergies``: each patient's recorded allergies (of ``only``, when
    given) as dicts of ``ALLERGY_KEYS``, current first, then by name, so an unchanged record
    compares equal. The name is the source's display, else the term in
    ``data/allergies.csv``, else the system and code; ``no_known`` marks the codes that
    record "no known allergies" (that file's ``no_known`` group)."""
    table = _only(engine, "allergies", only)
    rows = pl.from_arrow(engine.to_arrow(table.select(*_ALLERGY_COLUMNS)))
    codes = allergy_codes()
    terms = {a.code: a.term for a in codes}
    no_known = sorted(a.code for a in codes if a.no_known)
    snomed = pl.col("system") == "snomed"
    fallback = (
        pl.col("system").replace_strict(_SYSTEM_NAMES, default=pl.col("system"))
        + pl.lit(" ")
        + pl.col("code")
    )
    rows = rows.with_columns(
        name=pl.coalesce(
            pl.col("display"),
            pl.when(snomed).then(pl.col("code").replace_strict(terms, default=None)),
            fallback,
        ),
        no_known=snomed & pl.col("code").is_in(pl.Series(no_known, dtype=pl.String).implode()),
        recorded=pl.col("recorded_date").dt.to_string("%Y-%m-%d"),
        rank=pl.col("clinical_status").replace_strict(_STATUS_ORDER, default=3),
    ).rename(
        {
            "clinical_status": "status",
            "verification_status": "verification",
            "reaction_display": "reaction",
            "reaction_severity": "severity",
        }
    )
    return (
        rows.sort(["patient_id", "rank", "no_known", "name", "code"])
        .group_by("patient_id", maintain_order=True)
        .agg(allergies=pl.struct(list(ALLERGY_KEYS)))
    )


def practices_with_allergies(engine) -> set[str]:
    """The practices (ODS codes) whose record carries allergy data: a current registration
    of a patient with any allergy row, "no known allergy" findings included. Their patients
    with no row have none recorded; elsewhere allergies are not known (nothing says)."""
    reg = engine.table("registrations")
    current = reg.filter(reg.end_date.isnull())
    has = engine.table("allergies").select("patient_id").distinct()
    expr = current.join(has, current.patient_id == has.patient_id).select("practice_id").distinct()
    return set(engine.to_arrow(expr)["practice_id"].to_pylist())


def patient_rows(frame: pl.DataFrame, parents: dict[str, str | None]):
    """``Patient`` rows in ``PATIENT_FIELDS`` order from :func:`patient_frame`: a practice
    the app does not hold is left empty, the neighbourhood is the practice's parent and the
    conditions are sorted (so an unchanged patient compares equal)."""
    frame = frame.with_columns(
        practice=pl.col("practice_id").replace_strict(
            {p: p for p in parents}, default=None, return_dtype=pl.String
        ),
        neighbourhood=pl.col("practice_id").replace_strict(
            parents, default=None, return_dtype=pl.String
        ),
        given_name=pl.col("given_name").fill_null(""),
        family_name=pl.col("family_name").fill_null(""),
        sex=pl.col("sex").fill_null(""),
        opted_out=pl.col("opted_out").fill_null(False).cast(pl.Boolean),
        conditions=pl.col("conditions").list.sort(),
    ).rename({"patient_id": "pseudonym"})
    for row, known in zip(
        frame.select(PATIENT_FIELDS).iter_rows(), frame["allergy_data"], strict=True
    ):
        conditions, allergies = row[10], row[13]
        if allergies is None:  # no row: none recorded where the practice sends allergy data
            allergies = [] if known else None
        yield (
            *row[:10],
            list(conditions) if conditions is not None else [],
            *row[11:13],
            allergies,
        )


def load_patients(engine, warehouse_dir: Path, only: frozenset[str] | None = None) -> int:
    """Insert or update every patient (or those of ``only``: the patients a batch touched)
    with an identity row, keyed by pseudonym, in one bulk write (``bulk.upsert``): a
    patient whose row is unchanged is not written."""
    allergy_practices = practices_with_allergies(engine)
    if only is not None:
        # A practice whose record starts (or stops) carrying allergy data changes what its
        # other patients' records say ("none recorded" against "not known"): reload them too.
        held = set(
            Patient.objects.filter(allergies__isnull=False)
            .values_list("practice_id", flat=True)
            .distinct()
        )
        moved = (allergy_practices ^ held) - {None}
        if moved:
            only = only | frozenset(
                Patient.objects.filter(practice_id__in=moved).values_list("pseudonym", flat=True)
            )
    frame = patient_frame(engine, warehouse_dir, only, allergy_practices)
    parents = dict(Organisation.objects.filter(kind="practice").values_list("org_id", "parent_id"))
    with transaction.atomic():
        bulk.upsert(Patient, PATIENT_FIELDS, patient_rows(frame, parents), key=["pseudonym"])
    return frame.height


def load_referrals(engine, only: frozenset[str] | None = None, day: dt.date | None = None) -> int:
    """Bookings at a hub or community service become ``booking`` relationships for that
    service's staff, each in the kind's window (``[kind.booking]`` of
    ``data/relationships.toml``: from ``days_before`` the appointment to ``days_after`` it),
    its end stored. ``day`` is the today for data (``clock.load_day``): bookings whose window
    has not ended by then are loaded (future ones too: the gate holds them until they start).

    Idempotent, and it reconciles: a booking loaded before is updated when its row changed
    (moved, rescheduled) while it is still in force; one still in force whose row is gone
    (removed, cancelled, moved to another service or out of the window) is ended, the day
    before ``day``, with its reason and an ``end`` audit row; an ended one is final (a later
    load never reopens or extends it, even when the same row is posted again). With ``only``
    (the patients a batch touched), only their bookings are looked at; nobody else's change,
    and theirs end by date at the gate. Returns the bookings in the window."""
    day = day or load_day(engine)
    after = dt.timedelta(days=policy().kinds["booking"]["days_after"])
    orgs = engine.table("organisations")
    services = orgs.filter(orgs.kind.isin(["hub", "community"])).select(svc=orgs.org_id)
    # the appointments whose window still reaches ``day``: on or after ``day - days_after``
    since = dt.datetime.combine(day - after, dt.time(), tzinfo=dt.UTC)
    recent = _only(engine, "encounters", only)
    recent = recent.filter((recent.start >= ibis.literal(since)) & (recent.status != "cancelled"))
    recent = recent.join(services, recent.org_id == services.svc)
    rows = engine.to_arrow(recent.select("id", "patient_id", "org_id", "start")).to_pylist()
    ids = lookup.by_pseudonym(r["patient_id"] for r in rows)
    wanted = {
        r["id"]: Referral(
            patient_id=ids[r["patient_id"]],
            service_id=r["org_id"],
            kind="booking",
            on=r["start"].date(),
            end=r["start"].date() + after,
            source_id=r["id"],
        )
        for r in rows
        if r["patient_id"] in ids
    }

    def open_on(row: Referral) -> bool:  # in force on ``day`` (a row from before ends: null)
        return row.ended_at is None and (row.end or row.on + after) >= day

    # The bookings in force now (of ``only``'s patients), and any row of a wanted id.
    in_force = Referral.objects.filter(kind="booking", ended_at__isnull=True).filter(
        Q(end__gte=day) | Q(end__isnull=True, on__gte=day - after)
    )
    if only is not None:
        in_force = in_force.filter(patient__pseudonym__in=only)
    held = {r.source_id: r for r in in_force}
    keys = sorted(set(wanted) - set(held))
    for i in range(0, len(keys), BATCH):
        held.update(
            (r.source_id, r) for r in Referral.objects.filter(source_id__in=keys[i : i + BATCH])
        )
    fields = ("patient_id", "service_id", "on", "end")
    changed, new = [], []
    for source_id, want in wanted.items():
        row = held.get(source_id)
        if row is None:
            new.append(want)
        elif open_on(row) and any(getattr(row, f) != getattr(want, f) for f in fields):
            for f in fields:
                setattr(row, f, getattr(want, f))
            changed.append(row)
        # an ended row (by date or by a load) is final, whatever its source row says now
    gone = [r for r in held.values() if r.source_id not in wanted and open_on(r)]
    with transaction.atomic():
        Referral.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
        Referral.objects.bulk_update(changed, fields, batch_size=BATCH)
        if gone:
            _end_gone(engine, gone, day, after)
    return len(wanted)


def _end_gone(engine, gone: list[Referral], day: dt.date, after: dt.timedelta) -> None:
    """End the bookings whose warehouse row is no longer a booking in force, the day before
    ``day``, each with its reason and one ``end`` audit row."""
    enc = engine.table("encounters")
    found = engine.to_arrow(
        enc.filter(enc.id.isin([r.source_id for r in gone])).select("id", "status", "org_id")
    ).to_pylist()
    now_rows = {r["id"]: r for r in found}
    at = timezone.now()
    for ref in gone:
        row = now_rows.get(ref.source_id)
        if row is None:
            reason = "removed from the warehouse"
        elif row["status"] == "cancelled":
            reason = "cancelled"
        elif row["org_id"] != ref.service_id:
            reason = "moved to another service"
        else:
            reason = "moved out of the booking window"
        ref.end = min(ref.end or ref.on + after, day - dt.timedelta(days=1))
        ref.ended_at, ref.ended_reason = at, f"{reason} (load of {day:%Y-%m-%d})"
    Referral.objects.bulk_update(gone, ["end", "ended_at", "ended_reason"], batch_size=BATCH)
    for ref in gone:
        AuditEvent.objects.create(
            username="warehouse load",
            patient_id=ref.patient_id,
            action="end",
            what=f"relationship booking ended for staff of {ref.service_id}: "
            f"{ref.ended_reason} ({ref.source_id})"[:200],
            outcome="allowed",
        )
