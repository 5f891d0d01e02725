"""The optional inputs beyond the warehouse, read when present.

- **App events** (``DIR/app_events/*.parquet``): what the care-coordination app records
  (named GP assigned, care plan agreed or reviewed, reviews, assessments), exported as rows of
  ``patient_id`` (the warehouse pseudonym), ``kind`` (``definition.APP_EVENT_KINDS``) and
  ``date``, written by ``wraparound app export-events`` (also run by ``wraparound app
  refresh`` and ``demo``). Until there are any, indicators that need them are "awaiting
  data".
- **App appointments** (``DIR/app_appointments/appointments.parquet``): the app's
  hub appointments, one row each (``APPOINTMENT_SCHEMA``), in the shape of warehouse GP
  appointments plus the need recorded with the request and whether its GM access standard
  was met. The indicators count them with the warehouse's GP and hub appointments, alike
  (``compile.py``); indicators that filter on ``need`` await them.
- **App feedback** (``DIR/app_feedback/fft_responses.parquet``): the Friends and Family
  Test's answers, one row per response and **no patient** (responses are anonymous):
  ``FEEDBACK_SCHEMA``, written by the feedback app (``apps/feedback/events.py``) with the
  other exports. Indicators over ``responses`` await it.
- **Risk results** (``DIR/results/risk/latest.json`` -> ``scores.parquet``): the latest risk
  stratification run's stream and eFI category per patient, for indicators about high-needs
  or frail patients.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wraparound import vocabulary
from wraparound.analytics import results
from wraparound.analytics.indicators.definition import APP_EVENT_KINDS
from wraparound.warehouse import paths

APP_EVENTS_DIR = paths.APP_EVENTS_DIR

APP_EVENT_SCHEMA = pa.schema(
    [("patient_id", pa.string()), ("kind", pa.string()), ("date", pa.date32())]
)
RISK_COLUMNS = list(vocabulary.RISK_INPUT_COLUMNS)
_TS = pa.timestamp("us", tz="UTC")
APPOINTMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("patient_id", pa.string()),
        ("start", _TS),
        ("end", _TS),
        ("booked_at", _TS),
        ("status", pa.string()),  # attended | dna | cancelled | booked (the warehouse's)
        ("org_id", pa.string()),  # the hub's ODS code
        ("practitioner_role_id", pa.string()),
        ("urgent_request", pa.bool_()),
        ("need", pa.string()),  # access/vocabulary.py NEEDS
        ("standard_met", pa.bool_()),  # null: no standard, or not yet measurable
    ]
)


APP_REFERRALS = ("app_referrals", "referral_events.parquet")
"""``DIR/app_referrals/referral_events.parquet``: every step of every referral, written by the
referrals app (``apps/referrals/events.py``); the indicators read the referrals sent."""
APP_REFERRAL_STEP_COLUMNS = ("referral_id", "patient_id", "transition", "to_state", "at")
REFERRAL_EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("patient_id", pa.string()),
        ("start", _TS),
        ("end", _TS),
        ("booked_at", _TS),
        ("status", pa.string()),
        ("practitioner_role_id", pa.string()),
        ("specialty", pa.string()),
    ]
)
"""Referrals sent, in the columns of warehouse encounters (``compile.py`` counts them as
events of kind ``referral``): one row per referral, when it first entered ``referred``,
status ``booked``, ``specialty`` the treatment function of its pathway."""


def app_referrals_path(warehouse: Path) -> Path:
    return Path(warehouse).joinpath(*APP_REFERRALS)


APP_FEEDBACK = ("app_feedback", "fft_responses.parquet")
FEEDBACK_SCHEMA = pa.schema(
    [
        ("month", pa.date32()),
        ("practice_id", pa.string()),
        ("hub_id", pa.string()),
        ("service_code", pa.string()),
        ("touchpoint", pa.string()),
        ("answer", pa.string()),
    ]
)
"""One anonymous FFT response: the first day of the month it was given, the patient's
practice (ODS code), the hub (when the touchpoint was at one), the service, the touchpoint
and the answer code (``data/feedback/fft.toml``). Not in ``app_events``, whose rows are
patients'."""


def app_feedback_path(warehouse: Path) -> Path:
    return Path(warehouse).joinpath(*APP_FEEDBACK)


class InputError(ValueError):
    """An optional input is present but malformed."""


@dataclass
class Found:
    """What was found: the tables and a description for the run's manifest."""

    app_events: pa.Table | None = None
    risk: pa.Table | None = None
    app_appointments: pa.Table | None = None
    app_referrals: pa.Table | None = None
    app_feedback: pa.Table | None = None
    described: dict = field(default_factory=dict)


def read(warehouse: Path) -> Found:
    found = Found()
    files = sorted(paths.app_events_dir(warehouse).glob("*.parquet"))
    if files:
        events = _app_events(files)
        found.described["app_events"] = {
            "files": [{"name": f.name, "sha256": _sha256(f)} for f in files],
            "rows": events.num_rows,
        }
        # An export from an app that has recorded nothing yet: still awaiting data.
        found.app_events = events if events.num_rows else None
    # Each app's single export file: read and checked, described by its hash, and left
    # awaiting data while the app has recorded nothing.
    single_files = (
        ("app_appointments", paths.app_appointments(warehouse), _app_appointments),
        ("app_referrals", app_referrals_path(warehouse), _app_referrals),
        ("app_feedback", app_feedback_path(warehouse), _app_feedback),
    )
    for name, path, read in single_files:
        if path.exists():
            table = read(path)
            found.described[name] = {
                "files": [{"name": path.name, "sha256": _sha256(path)}],
                "rows": table.num_rows,
            }
            setattr(found, name, table if table.num_rows else None)
    run = results.latest_run(Path(warehouse), paths.RISK)
    if run is not None and (run / "scores.parquet").exists():
        found.risk = pq.read_table(run / "scores.parquet", columns=RISK_COLUMNS)
        found.described[vocabulary.RISK] = {"run_id": run.name, "rows": found.risk.num_rows}
    return found


def _app_events(files: list[Path]) -> pa.Table:
    tables = []
    for path in files:
        table = pq.read_table(path)
        missing = [c for c in APP_EVENT_SCHEMA.names if c not in table.column_names]
        if missing:
            raise InputError(
                f"{path}: app events need columns {APP_EVENT_SCHEMA.names}; missing {missing}"
            )
        try:
            table = table.select(APP_EVENT_SCHEMA.names).cast(APP_EVENT_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"{path}: {exc}") from exc
        unknown = set(pc.unique(table["kind"]).to_pylist()) - set(APP_EVENT_KINDS)
        if unknown:
            raise InputError(
                f"{path}: unknown app event kind {sorted(map(str, unknown))[0]!r}"
                f" (known: {', '.join(APP_EVENT_KINDS)})"
            )
        tables.append(table)
    return pa.concat_tables(tables)


def _app_appointments(path: Path) -> pa.Table:
    table = pq.read_table(path)
    missing = [c for c in APPOINTMENT_SCHEMA.names if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: app appointments need columns {missing}")
    try:
        return table.select(APPOINTMENT_SCHEMA.names).cast(APPOINTMENT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: {exc}") from exc


def _app_referrals(path: Path) -> pa.Table:
    """The referrals sent: each referral's first step into ``referred``.

    A referral a provider opened by redirecting another (its first step is ``<code>_in``,
    such as ``redirect_in``) continues the one the practice sent, so it is not counted
    again: the referral was sent once, whichever service ends up seeing it."""
    table = pq.read_table(path)
    need = [*APP_REFERRAL_STEP_COLUMNS, "treatment_function"]
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: referral events need columns {missing}")
    sent = table.filter(pc.equal(table["to_state"], "referred")).sort_by(
        [("referral_id", "ascending"), ("at", "ascending")]
    )
    seen: set[str] = set()
    keep = []
    for i, rid in enumerate(sent["referral_id"].to_pylist()):
        if rid not in seen:
            seen.add(rid)
            keep.append(i)
    sent = sent.take(pa.array(keep, pa.int64()))  # typed: an empty list is not null-typed
    continued = pc.ends_with(sent["transition"].cast(pa.string()), "_in")
    sent = sent.filter(pc.invert(pc.fill_null(continued, False)))
    n = sent.num_rows
    try:
        start = sent["at"].cast(_TS)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    return pa.table(
        {
            "id": sent["referral_id"].cast(pa.string()),
            "patient_id": sent["patient_id"].cast(pa.string()),
            "start": start,
            "end": pa.nulls(n, _TS),
            "booked_at": pa.nulls(n, _TS),
            "status": pa.array(["booked"] * n, pa.string()),
            "practitioner_role_id": pa.nulls(n, pa.string()),
            "specialty": sent["treatment_function"].cast(pa.string()),
        },
        schema=REFERRAL_EVENT_SCHEMA,
    )


def _app_feedback(path: Path) -> pa.Table:
    table = pq.read_table(path)
    missing = [c for c in FEEDBACK_SCHEMA.names if c not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: FFT responses need columns {FEEDBACK_SCHEMA.names}; missing {missing}"
        )
    try:
        return table.select(FEEDBACK_SCHEMA.names).cast(FEEDBACK_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: {exc}") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
