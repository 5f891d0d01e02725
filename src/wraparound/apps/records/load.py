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

from wraparound.apps.records.models import Organisation, Patient, Referral
from wraparound.clinical import registers
from wraparound.warehouse.identity import read_identity

BATCH = 5000
REFERRAL_DAYS = 90


def load_organisations(engine) -> int:
    orgs = engine.to_arrow(
        engine.table("organisations").select("org_id", "name", "kind", "parent_id")
    ).to_pylist()
    by_id = {o["org_id"]: o for o in orgs}
    done: set[str] = set()

    def save(org: dict) -> None:  # parents first, so the foreign key always resolves
        if org["org_id"] in done:
            return
        if org["parent_id"] in by_id:
            save(by_id[org["parent_id"]])
        Organisation.objects.update_or_create(
            org_id=org["org_id"],
            defaults={
                "name": org["name"] or org["org_id"],
                "kind": org["kind"],
                "parent_id": org["parent_id"] if org["parent_id"] in by_id else None,
            },
        )
        done.add(org["org_id"])

    with transaction.atomic():
        for org in orgs:
            save(org)
    return len(orgs)


def _register_codes() -> pa.Table:
    rows = [(code, reg.name) for reg in registers() if reg.rule == "codes" for code in reg.codes]
    return pa.table({"code": [c for c, _ in rows], "register": [n for _, n in rows]})


def _only(table, only: frozenset[str] | None):
    """``table``'s rows of the patients ``only`` (all rows when ``None``)."""
    return table if only is None else table.filter(table.patient_id.isin(sorted(only)))


def patient_frame(engine, warehouse_dir: Path, only: frozenset[str] | None = None) -> pl.DataFrame:
    """One row per patient (of ``only``, when given): identity, demographics, current
    practice and neighbourhood, register conditions, last A&E attendance and emergency
    admission."""
    pats = _only(engine.table("patients"), only).select(
        "patient_id", "birth_date", "sex", "death_date", "opted_out"
    )
    reg = _only(engine.table("registrations"), only)
    current = (
        reg.filter(reg.end_date.isnull())
        .group_by("patient_id")
        .agg(practice_id=reg.practice_id.max())
    )
    cond = _only(engine.table("conditions"), only)
    codes = engine.memtable(_register_codes())
    on_register = (
        cond.join(codes, cond.code == codes.code)
        .group_by("patient_id")
        .agg(conditions=codes.register.collect(distinct=True))
    )
    enc = _only(engine.table("encounters"), only)
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
    # One identity per pseudonym: two source records of one NHS number, newest first.
    identity = (
        pl.from_arrow(
            read_identity(
                engine.warehouse,
                columns=["patient_id", "nhs_number", "given_name", "family_name", "updated_at"],
            )
        )
        # The app finds and shows patients by NHS number: a record without one (a source
        # that keys patients by a local id only) stays in the warehouse but not in the app.
        .filter(pl.col("nhs_number").is_not_null())
        .sort("updated_at", descending=True, nulls_last=True)
        .unique("patient_id", keep="first", maintain_order=True)
        .drop("updated_at")
    )
    # Two source records of one patient (one NHS number) are one patient in the app.
    frame = frame.unique("patient_id", keep="first", maintain_order=True)
    return frame.join(identity, on="patient_id", how="inner")


def load_patients(engine, warehouse_dir: Path, only: frozenset[str] | None = None) -> int:
    """Insert or update every patient (or those of ``only``: the patients a batch touched)
    with an identity row, keyed by pseudonym."""
    frame = patient_frame(engine, warehouse_dir, only)
    parents = dict(Organisation.objects.filter(kind="practice").values_list("org_id", "parent_id"))
    fields = [
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
    ]
    with transaction.atomic():
        for chunk in frame.iter_slices(BATCH):
            rows = [
                Patient(
                    pseudonym=r["patient_id"],
                    nhs_number=r["nhs_number"],
                    given_name=r["given_name"] or "",
                    family_name=r["family_name"] or "",
                    birth_date=r["birth_date"],
                    sex=r["sex"] or "",
                    death_date=r["death_date"],
                    opted_out=bool(r["opted_out"]),
                    practice_id=r["practice_id"] if r["practice_id"] in parents else None,
                    neighbourhood_id=parents.get(r["practice_id"]),
                    conditions=sorted(r["conditions"] or []),
                    last_ae=r["last_ae"],
                    last_admission=r["last_admission"],
                )
                for r in chunk.iter_rows(named=True)
            ]
            Patient.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["pseudonym"], update_fields=fields
            )
    return frame.height


def load_referrals(engine, only: frozenset[str] | None = None) -> int:
    """Bookings at a hub or community service in the last 90 days of data (and any future
    bookings) become relationships for that service's staff. With ``only`` (the patients a
    batch touched), only their bookings are looked at: the window moves forward only, and a
    referral is never removed, so nobody else can gain one."""
    enc = engine.table("encounters")
    orgs = engine.table("organisations")
    services = orgs.filter(orgs.kind.isin(["hub", "community"])).select(svc=orgs.org_id)
    latest = engine.to_arrow(enc.select(m=enc.start.max())).column("m")[0].as_py()
    if latest is None:
        return 0
    since = latest - dt.timedelta(days=REFERRAL_DAYS)
    recent = _only(enc, only)
    recent = recent.filter(recent.start >= ibis.literal(since))
    recent = recent.join(services, recent.org_id == services.svc)
    rows = engine.to_arrow(recent.select("id", "patient_id", "org_id", "start")).to_pylist()
    ids = dict(
        Patient.objects.filter(pseudonym__in={r["patient_id"] for r in rows}).values_list(
            "pseudonym", "pk"
        )
    )
    objs = [
        Referral(
            patient_id=ids[r["patient_id"]],
            service_id=r["org_id"],
            kind="booking",
            on=r["start"].date(),
            source_id=r["id"],
        )
        for r in rows
        if r["patient_id"] in ids
    ]
    Referral.objects.bulk_create(objs, batch_size=BATCH, ignore_conflicts=True)
    return len(objs)
