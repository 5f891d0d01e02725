"""Build a cohort into a call list: the population-scale part over the warehouse through the
engine interface (Ibis; never DuckDB directly), then the app's state, then the list stored.

Never in a request: ``wraparound app outreach build COHORT`` (``apps/outreach/cli.py``,
with Rich progress bars) runs it, and the pages read the stored list.

The build date is today, or the warehouse's data end when that is earlier (the day after its
last encounter, as ``stratify`` takes it), so a look-back covers months the warehouse holds.

Steps (each timed into ``CohortBuild.seconds``):

1. ``warehouse``: patients registered and alive on the build date
   (``analytics.population.registered_on``), the population's age and register limits, and
   the warehouse criteria (``cohorts.py``). For ``missed_appointments`` the app's own hub
   appointments not attended are handed to the engine as a memtable and counted with the
   warehouse's GP and hub DNAs.
2. ``app``: ``risk_stream`` (the current register run) narrows the pseudonyms first; they
   are matched to the app's patient index; then ``no_care_plan``; left out, and counted
   by reason: not in the app's index, died, and (for a cohort that is not direct care) the
   national data opt-out.
3. ``store``: the earlier build of the cohort is no longer current; the new list is written
   in one transaction (one multi-row insert per 5,000 entries, not one object each).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from django.db import connection, transaction
from django.utils import timezone

from wraparound import clinical
from wraparound.analytics.population import registered_on
from wraparound.apps.outreach.cohorts import Cohort, Criterion, get
from wraparound.apps.outreach.models import CallListEntry, CohortBuild
from wraparound.apps.records import lookup
from wraparound.warehouse import engine as engines
from wraparound.warehouse.store import Warehouse

STORE_CHUNK = 5000
Step = Callable[[str, int, int], None]  # (step, done, total)


def _codes(codelist_id: str) -> list[str]:
    return clinical.codelist(codelist_id)


def app_missed(criterion: Criterion, on: dt.date) -> pa.Table:
    """The app's hub appointments not attended in the criterion's window, per pseudonym."""
    from django.db.models import Count

    from wraparound.apps.access.models import Appointment

    start = criterion.window_start(on)
    found = (
        Appointment.objects.filter(
            status="did_not_attend", start__date__gte=start, start__date__lte=on
        )
        .values("patient__pseudonym")
        .annotate(n=Count("pk"))
    )
    rows = list(found.values_list("patient__pseudonym", "n"))
    return pa.table(
        {"patient_id": [r[0] for r in rows], "missed": [int(r[1]) for r in rows]},
        schema=pa.schema([("patient_id", pa.string()), ("missed", pa.int64())]),
    )


def warehouse_expr(engine, cohort: Cohort, on: dt.date):
    """The Ibis expression of the warehouse part: patient_id, practice_id, age."""
    base = registered_on(engine, on)
    if cohort.min_age is not None:
        base = base.filter(base.age >= cohort.min_age)
    if cohort.max_age is not None:
        base = base.filter(base.age <= cohort.max_age)
    if cohort.registers:
        codes = sorted(
            {c for r in clinical.registers() if r.register_id in cohort.registers for c in r.codes}
        )
        cond = engine.table("conditions")
        active = cond.filter(
            cond.code.isin(codes)
            & (cond.onset_date.isnull() | (cond.onset_date <= on))
            & (cond.abatement_date.isnull() | (cond.abatement_date > on))
        )
        base = base.semi_join(active, "patient_id")
    for c in cohort.warehouse_criteria:
        start = c.window_start(on)
        if c.op == "no_procedure":
            proc = engine.table("procedures")
            done = proc.filter(
                proc.code.isin(_codes(c.arg)) & (proc.date >= start) & (proc.date <= on)
            )
            base = base.anti_join(done, "patient_id")
        elif c.op == "medication_issued":
            meds = engine.table("medications")
            issued = meds.filter(
                meds.code.isin(_codes(c.arg)) & (meds.start_date >= start) & (meds.start_date <= on)
            )
            base = base.semi_join(issued, "patient_id")
        elif c.op == "missed_appointments":
            enc = engine.table("encounters")
            day = enc.start.date()
            dna = enc.filter(
                (enc.kind == "gp_appointment")
                & (enc.status == "dna")
                & (day >= start)
                & (day <= on)
            )
            counts = dna.group_by("patient_id").agg(missed=dna.count().cast("int64"))
            app = engine.memtable(app_missed(c, on))
            both = counts.union(app.select("patient_id", "missed"))
            total = both.group_by("patient_id").agg(missed=both.missed.sum())
            base = base.semi_join(total.filter(total.missed >= c.arg), "patient_id")
    return base.select("patient_id", "practice_id", "age")


def _in_streams(cohort: Cohort, pseudonyms: set[str]) -> set[str]:
    """The pseudonyms in every ``risk_stream`` criterion's streams (current register run),
    applied before the patient index is read, so a whole-population warehouse part costs
    only the register."""
    from wraparound.apps.registers.models import RegisterEntry

    for c in cohort.app_criteria:
        if c.op == "risk_stream":
            members = RegisterEntry.objects.filter(run__current=True, stream__in=list(c.arg))
            pseudonyms &= set(members.values_list("patient__pseudonym", flat=True))
    return pseudonyms


def _app_filter(cohort: Cohort, patient_ids: set[int]) -> set[int]:
    for c in cohort.app_criteria:
        if c.op == "no_care_plan":
            from wraparound.apps.care.models import CarePlanVersion

            planned = set(
                CarePlanVersion.objects.filter(agreed=True).values_list(
                    "plan__patient_id", flat=True
                )
            )
            patient_ids -= planned
    return patient_ids


def default_date(engine) -> dt.date:
    """Today, or the warehouse's data end (the day after its last encounter, as
    ``stratify`` takes it) when that is earlier: a cohort of "no review in 12 months" is
    built over months the warehouse holds."""
    today = timezone.localdate()
    enc = engine.table("encounters")
    last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0]
    if not last.is_valid:
        return today
    return min(today, last.as_py().date() + dt.timedelta(days=1))


def build(
    cohort_id: str | Cohort,
    warehouse_dir: Path,
    on: dt.date | None = None,
    progress: Step | None = None,
) -> CohortBuild:
    """Build ``cohort_id`` (an id of data/outreach/, or a parsed :class:`Cohort`) as of
    ``on`` (default :func:`default_date`) into a new current call list."""
    cohort = cohort_id if isinstance(cohort_id, Cohort) else get(cohort_id)
    warehouse = Warehouse(warehouse_dir)
    tell = progress or (lambda step, done, total: None)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    tell("warehouse", 0, 1)
    with engines.connect(warehouse) as engine:
        on = on or default_date(engine)
        found = engine.to_arrow(warehouse_expr(engine, cohort, on))
    pseudonyms = set(found["patient_id"].to_pylist())
    seconds["warehouse"] = round(time.perf_counter() - t, 3)
    tell("warehouse", 1, 1)

    t = time.perf_counter()
    tell("app", 0, 1)
    found_count = len(pseudonyms)
    pseudonyms = _in_streams(cohort, pseudonyms)
    columns = ("pk", "opted_out", "death_date", "practice_id", "neighbourhood_id")
    index = lookup.by_pseudonym(pseudonyms, *columns)
    left_out = {"not_in_app": len(pseudonyms) - len(index), "died": 0, "opted_out": 0}
    keep: dict[int, tuple] = {}
    for pk, opted_out, died, practice, neighbourhood in index.values():
        if died is not None:
            left_out["died"] += 1
        elif opted_out and not cohort.direct_care:
            left_out["opted_out"] += 1
        else:
            keep[pk] = (practice, neighbourhood)
    chosen = _app_filter(cohort, set(keep))
    seconds["app"] = round(time.perf_counter() - t, 3)
    tell("app", 1, 1)

    t = time.perf_counter()
    ordered = sorted(chosen)
    with transaction.atomic():
        CohortBuild.objects.filter(cohort_id=cohort.id, current=True).update(current=False)
        made = CohortBuild.objects.create(
            cohort_id=cohort.id,
            cohort_version=cohort.version,
            as_of=on,
            warehouse_snapshot=str(warehouse.manifest.snapshot),
            found=found_count,
            size=len(ordered),
            left_out=left_out,
        )
        table = CallListEntry._meta.db_table
        sql = (
            f"INSERT INTO {table} (build_id, patient_id, practice_id, neighbourhood_id, state, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s)"
        )
        stamp = timezone.now()
        with connection.cursor() as cursor:
            for i in range(0, len(ordered), STORE_CHUNK):
                cursor.executemany(
                    sql,
                    [
                        (made.pk, pk, keep[pk][0], keep[pk][1], "to_contact", stamp)
                        for pk in ordered[i : i + STORE_CHUNK]
                    ],
                )
                tell("store", min(i + STORE_CHUNK, len(ordered)), len(ordered))
    seconds["store"] = round(time.perf_counter() - t, 3)
    seconds["total"] = round(sum(seconds.values()), 3)
    made.seconds = seconds
    made.save(update_fields=["seconds"])
    return made
