"""Month reuse: which months of each indicator a run computes, and which it takes from the
previous published run.

Every cell of an indicator (``compile.py``) belongs to one month, and a month's cells depend
only on the data, never on which other months are reported. So a run keeps each indicator's
cells (``<run>/cells/<id>.parquet``, every computed month), and the next run recomputes only
the months that the data written since can change, and takes the rest from there. The
published tables are then built from all the cells, as a full run builds them, so they are
identical to a full recompute (tests/integration/test_indicators_reuse.py checks it).

What changed is learned as the app's incremental refresh learns it
(``apps/refresh_changes.changes_since``): the warehouse manifest lists every batch since the
previous run with the tables it wrote and the rows it deleted, and every row carries the
``batch`` that last wrote it. The new versions are the rows of those batches; the versions they
replaced or deleted are read from the snapshot the previous run read (the store keeps the
previous snapshot), and a pair whose columns the indicators read are equal changes nothing.
Each changed version, old or new, then names the months it can affect:

- an encounter: the month it started, for indicators counting that kind of encounter (an
  app hub appointment or referral likewise);
- an observation, a medicine issue or an app event dated in month ``m``: months ``m`` to
  ``m + N - 1`` for a condition "within N months" on it (``m + N`` onwards for "older than N
  months", ``m`` onwards for "ever");
- a coded condition (register membership from onset to abatement) or a registration spell:
  the months between the old and the new value of each boundary that moved (from the onset
  or start to the abatement or end, all of them, for a new, deleted or reassigned one);
  registrations count for every indicator;
- a patient: a death date moved, the months between the two dates; any other change (birth
  date, sex, area, opt-out), or a new or deleted patient, every month the patient was
  registered in;
- a later data end: the months of stays still open, for excess bed days (they run to it).

Everything else is recomputed whole: no earlier run (or ``--full``), an indicator whose file,
code lists, risk cohort or the code that compiles it changed since, a warehouse rebuilt or
gone back, a batch that does not list its tables (a synthetic rebuild), a batch that wrote
organisations or areas, or replaced rows whose earlier versions are no longer kept (the
previous run's snapshot pruned after two batches). Months newly in the 36 are computed;
months that fell out are dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import polars as pl
import pyarrow as pa

from wraparound import clinical
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.indicators.definition import Condition, Indicator
from wraparound.warehouse import paths
from wraparound.warehouse.store import Manifest, Warehouse

CELLS_DIR = "cells"
INPUTS_DIR = "inputs"
DISCLOSURE_MEMO = "disclosure_memo.json"
"""Rule 4's answers per group of rows (``disclosure.Memo``), for the next run."""
FOREVER = 10**6
"""Open-ended: 'from month m onwards' (``compile.FOREVER``)."""

READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id", "birth_date", "sex", "lsoa", "death_date", "opted_out"),
    "registrations": ("patient_id", "practice_id", "start_date", "end_date"),
    "conditions": ("patient_id", "code", "onset_date", "abatement_date"),
    "observations": ("patient_id", "code", "date", "value"),
    "medications": ("patient_id", "code", "start_date"),
    "encounters": (
        "patient_id",
        "kind",
        "start",
        "end",
        "booked_at",
        "status",
        "org_id",
        "practitioner_role_id",
        "specialty",
        "urgent_request",
    ),
}
"""The warehouse tables a cell is computed from, with the columns read (besides ``id``)."""
WHOLE = frozenset({"organisations", "areas"})
"""Tables a change to which can change any month of any indicator (hubs, deprivation)."""
APP_INPUTS = ("app_events", "app_appointments", "app_referrals", "app_feedback")
CODE = ("compile.py", "reuse.py", "periods.py")
"""The modules whose source is part of every fingerprint: a change to how cells are computed
invalidates them all (``analytics/population.py`` too)."""
EVERYONE = ("everyone",)
"""The change key every indicator depends on: registrations and patients."""


# ---------------------------------------------------------------------------------------------
# Fingerprints: what a cached cell was computed by
# ---------------------------------------------------------------------------------------------


def _code_hash() -> str:
    digest = hashlib.sha256()
    here = resources.files("wraparound.analytics.indicators")
    for name in CODE:
        digest.update(here.joinpath(name).read_bytes())
    digest.update(resources.files("wraparound.analytics").joinpath("population.py").read_bytes())
    return digest.hexdigest()


def _conditions(indicator: Indicator) -> list[Condition]:
    out, stack = [], [*indicator.denominator.where, *indicator.numerator.where]
    while stack:
        c = stack.pop()
        stack.extend(c.children)
        if c.op != "any":
            out.append(c)
    return out


def _register_codes(indicator: Indicator) -> list[str]:
    wanted = indicator.denominator.registers
    return sorted(
        {code for r in clinical.registers() if r.register_id in wanted for code in r.codes}
    )


def _condition_codes(condition: Condition) -> list[str]:
    if condition.op in ("latest_observation", "observation_recorded"):
        return [clinical.observation_codes()[condition.arg].code]
    if condition.op == "medication_issued":
        return sorted(set(clinical.codelist(condition.arg)))
    return []


def fingerprint(indicator: Indicator, engine_name: str, cohort: str | None) -> str:
    """A hash of everything an indicator's cells are computed by besides the data: its
    file, the codes its registers, observations and code lists resolve to, the risk cohort
    it counts, the engine and the code that compiles it."""
    parts = {
        "sha256": indicator.sha256,
        "version": indicator.version,
        "registers": _register_codes(indicator),
        "conditions": [[c.op, str(c.arg), _condition_codes(c)] for c in _conditions(indicator)],
        "cohort": cohort,
        "engine": engine_name,
        "code": _code_hash(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cohort_hash(indicator: Indicator, risk: pa.Table | None) -> str | None:
    """The patients of the risk cohort an indicator counts (streams, eFI categories)."""
    den = indicator.denominator
    if risk is None or not (den.risk_streams or den.efi_categories):
        return None
    frame = pl.from_arrow(risk)
    keep = pl.col("stream").is_in(list(den.risk_streams)) | pl.col("efi_category").is_in(
        list(den.efi_categories)
    )
    ids = frame.filter(keep.fill_null(False))["patient_id"].unique().sort().to_list()
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


def lineage(batches: list[dict], upto: int) -> str:
    """A hash of the manifest's batch entries up to ``upto``: a rebuilt warehouse differs."""
    kept = [b for b in batches if b.get("batch", 0) <= upto]
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Dependencies: which changes reach which indicator, and how far forward
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """A change dated in months ``a .. b`` reaches months ``a + lo .. b + hi``."""

    lo: int = 0
    hi: int = 0


def _reach(condition: Condition) -> Reach:
    if (n := condition.param("within_months")) is not None:
        return Reach(0, n - 1)
    if (n := condition.param("older_than_months")) is not None:
        return Reach(n, FOREVER)
    return Reach(0, FOREVER)  # ever


def dependencies(indicator: Indicator) -> dict[tuple, set[Reach]]:
    """The change keys an indicator's cells depend on, with how far each reaches."""
    deps: dict[tuple, set[Reach]] = {EVERYONE: {Reach()}}

    def add(key, reach=Reach()):
        deps.setdefault(key, set()).add(reach)

    for code in _register_codes(indicator):
        add(("conditions", code))
    for c in _conditions(indicator):
        if c.op in ("latest_observation", "observation_recorded"):
            for code in _condition_codes(c):
                add(("observations", code), _reach(c))
        elif c.op == "medication_issued":
            for code in _condition_codes(c):
                add(("medications", code), _reach(c))
        elif c.op == "app_event":
            add(("app_events", c.arg), _reach(c))
    for spec in (indicator.denominator.events, indicator.numerator.events):
        if spec is not None:
            add(("encounters", spec.kind))
    if indicator.numerator.measure == "excess_bed_days":
        add(("open_stays", indicator.numerator.events.kind))
    if indicator.denominator.responses is not None:
        add(("app_feedback", indicator.denominator.responses.survey))
    return deps


# ---------------------------------------------------------------------------------------------
# Changes: months touched, per key
# ---------------------------------------------------------------------------------------------


Touched = dict[tuple, set[tuple[int, int]]]
"""Per change key, the month ranges ``(a, b)`` its changed records lie in."""


class Everything(Exception):
    """Nothing can be reused from the previous run; the message says why."""


def _m(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return months.month_index(value)


def _span(lo, hi, open_lo: int = 0) -> tuple[int, int]:
    """The months from date ``lo`` (none: ``open_lo``) to date ``hi`` (none: for ever)."""
    a = _m(lo)
    b = _m(hi)
    return (open_lo if a is None else a, FOREVER if b is None else b)


def _between(old, new, none: int) -> tuple[int, int] | None:
    """The months between two values of a boundary, or None when it did not move."""
    if old == new:
        return None
    a = _m(old)
    b = _m(new)
    a = none if a is None else a
    b = none if b is None else b
    return (min(a, b), max(a, b))


class _Diff:
    """The changed versions of one table's rows: ``pairs`` (old, new) sharing an id, and
    ``alone``, versions with no counterpart (inserted or deleted), as dicts."""

    def __init__(self, new: list[dict], old: list[dict], columns: tuple[str, ...]):
        before = {r["id"]: r for r in old}
        self.pairs: list[tuple[dict, dict]] = []
        self.alone: list[dict] = []
        for row in new:
            prior = before.pop(row["id"], None)
            if prior is None:
                self.alone.append(row)
            elif any(prior[c] != row[c] for c in columns):
                self.pairs.append((prior, row))
        self.alone.extend(before.values())

    def versions(self):
        for old, new in self.pairs:
            yield old
            yield new
        yield from self.alone


class PinnedWarehouse(Warehouse):
    """A warehouse read at an earlier snapshot (still kept on disk)."""

    def __init__(self, root, snapshot: int):
        super().__init__(root)
        self.pinned = snapshot

    def snapshot_dir(self, snapshot: int | None = None) -> Path:
        return paths.snapshot(self.root, self.pinned if snapshot is None else snapshot)


def warehouse_changes(engine, wh: Warehouse, previous: dict, data_end: dt.date) -> Touched:
    """The months the batches since the previous run can have changed, per change key.
    Raises ``Everything`` when that cannot be known."""
    m: Manifest = wh.manifest
    pb, ps = previous["batch"], previous["snapshot"]
    if m.batch < pb or m.snapshot < ps:
        raise Everything("the warehouse is older than the previous run's (rebuilt?)")
    if lineage(m.batches, pb) != previous["lineage"]:
        raise Everything("the warehouse was rebuilt since the previous run")
    touched: Touched = {}
    if data_end != dt.date.fromisoformat(previous["data_end"]):
        _open_stays(engine, touched)
    if m.batch == pb:
        if m.committed_at != previous["committed_at"]:
            raise Everything("the warehouse was rebuilt since the previous run")
        return touched
    later = [b for b in m.batches if b.get("batch", 0) > pb]
    if len(later) != m.batch - pb:
        raise Everything("the manifest does not account for every batch since the previous run")
    written: set[str] = set()
    replaced: set[str] = set()
    deleted: set[str] = set()
    for entry in later:
        if "tables" not in entry:
            raise Everything(f"batch {entry.get('batch')} does not list the tables it wrote")
        for name, counts in entry["tables"].items():
            if counts.get("inserted", 0) or counts.get("replaced", 0):
                written.add(name)
            if counts.get("replaced", 0):
                replaced.add(name)
        for name, n in entry.get("deleted", {}).items():
            if n:
                written.add(name)
                replaced.add(name)
                deleted.add(name)
    if whole := sorted(written & WHOLE):
        raise Everything(f"a batch since the previous run wrote {', '.join(whole)}")
    read = [t for t in READ_COLUMNS if t in written]
    if not read:
        return touched
    old_engine = None
    if replaced & set(read):
        if not paths.snapshot(wh.root, ps).is_dir():
            raise Everything(
                f"rows were replaced since the previous run and its snapshot {ps} is no longer kept"
            )
        # On the same backend, so the two snapshots can be joined (views named per engine).
        old_engine = type(engine)(
            engine.name, engine.backend, PinnedWarehouse(wh.root, ps), shared=True
        )
    batches = [e["batch"] for e in later]
    try:
        diffs = {
            t: _table_diff(
                engine,
                old_engine if t in replaced else None,
                t,
                batches,
                deletes=t in deleted,
            )
            for t in read
        }
        _to_months(engine, diffs, touched)
    finally:
        if old_engine is not None:
            old_engine.close()
    return touched


def _table_diff(engine, old_engine, name: str, batches: list[int], deletes: bool) -> _Diff:
    columns = READ_COLUMNS[name]
    cur = engine.table(name)
    new = engine.to_arrow(cur.filter(cur.batch.isin(batches)).select("id", *columns)).to_pylist()
    old: list[dict] = []
    if old_engine is not None:
        prior = old_engine.table(name).select("id", *columns)
        if new:
            ids = old_engine.memtable(
                pa.table({"id": pa.array([r["id"] for r in new], pa.string())})
            )
            old = old_engine.to_arrow(prior.semi_join(ids, "id")).to_pylist()
        if deletes:  # rows in the earlier snapshot that are no longer in the current one
            old += old_engine.to_arrow(prior.anti_join(cur.select("id"), "id")).to_pylist()
    return _Diff(new, old, columns)


def _add(touched: Touched, key: tuple, span: tuple[int, int] | None) -> None:
    if span is not None and span[0] <= span[1]:
        touched.setdefault(key, set()).add(span)


def _intervals(diff: _Diff, touched: Touched, key, lo: str, hi: str, same: tuple[str, ...]):
    """Interval rows (registration spells, coded conditions): a boundary that moved touches
    the months between its two values; a new, deleted or reassigned row all of its months."""
    for old, new in diff.pairs:
        if all(old[c] == new[c] for c in same):
            _add(touched, key(new), _between(old[lo], new[lo], 0))
            _add(touched, key(new), _between(old[hi], new[hi], FOREVER))
        else:
            _add(touched, key(old), _span(old[lo], old[hi]))
            _add(touched, key(new), _span(new[lo], new[hi]))
    for row in diff.alone:
        _add(touched, key(row), _span(row[lo], row[hi]))


def _to_months(engine, diffs: dict[str, _Diff], touched: Touched) -> None:
    if (d := diffs.get("encounters")) is not None:
        for row in d.versions():
            if (month := _m(row["start"])) is not None:
                _add(touched, ("encounters", row["kind"]), (month, month))
    for name, column in (("observations", "date"), ("medications", "start_date")):
        if (d := diffs.get(name)) is not None:
            for row in d.versions():
                if (month := _m(row[column])) is not None:
                    _add(touched, (name, row["code"]), (month, month))
    if (d := diffs.get("conditions")) is not None:
        _intervals(
            d,
            touched,
            lambda r: ("conditions", r["code"]),
            "onset_date",
            "abatement_date",
            ("patient_id", "code"),
        )
    spells = diffs.get("registrations")
    if spells is not None:
        _intervals(
            spells,
            touched,
            lambda r: EVERYONE,
            "start_date",
            "end_date",
            ("patient_id", "practice_id"),
        )
    if (d := diffs.get("patients")) is not None:
        whole: set[str] = set()
        others = [c for c in READ_COLUMNS["patients"] if c != "death_date"]
        for old, new in d.pairs:
            if all(old[c] == new[c] for c in others):
                _add(touched, EVERYONE, _between(old["death_date"], new["death_date"], FOREVER))
            else:
                whole.update((old["patient_id"], new["patient_id"]))
        whole.update(r["patient_id"] for r in d.alone)
        if whole:
            _patient_spells(engine, whole, spells, touched)


def _patient_spells(engine, patients: set[str], spells: _Diff | None, touched: Touched) -> None:
    """Every month the patients were registered in, now or in the replaced versions."""
    reg = engine.table("registrations")
    ids = engine.memtable(pa.table({"patient_id": pa.array(sorted(patients), pa.string())}))
    rows = engine.to_arrow(
        reg.semi_join(ids, "patient_id").select("patient_id", "start_date", "end_date")
    ).to_pylist()
    if spells is not None:
        rows += [r for r in spells.versions() if r["patient_id"] in patients]
    for row in rows:
        _add(touched, EVERYONE, _span(row["start_date"], row["end_date"]))


def _open_stays(engine, touched: Touched) -> None:
    """Stays with no end run to the data's end: when it moves, their months change."""
    enc = engine.table("encounters")
    open_ = enc.filter(enc.end.isnull())
    rows = engine.to_arrow(
        open_.select("kind", month=months.column(open_.start.date())).distinct()
    ).to_pylist()
    for row in rows:
        _add(touched, ("open_stays", row["kind"]), (row["month"], row["month"]))


def input_changes(found, previous_dir: Path) -> Touched:
    """Rows of the app's inputs that differ from those the previous run read (as a multiset:
    a duplicated appointment counts twice), as months per change key."""
    touched: Touched = {}
    for name in APP_INPUTS:
        now = getattr(found, name)
        path = previous_dir / INPUTS_DIR / f"{name}.parquet"
        before = pl.read_parquet(path) if path.exists() else None
        now_df = pl.from_arrow(now) if now is not None else None
        if now_df is None and before is None:
            continue
        if now_df is None:
            now_df = before.clear()
        if before is None:
            before = now_df.clear()
        for row in _multiset_diff(now_df, before.cast(now_df.schema)).to_dicts():
            if name == "app_events":
                key, when = ("app_events", row["kind"]), row["date"]
            elif name == "app_appointments":
                key, when = ("encounters", "gp_appointment"), row["start"]
            elif name == "app_feedback":
                key, when = ("app_feedback", "fft"), row["month"]
            else:
                key, when = ("encounters", "referral"), row["start"]
            if (month := _m(when)) is not None:
                _add(touched, key, (month, month))
    return touched


def _multiset_diff(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    cols = a.columns
    ca = a.group_by(cols).len()
    cb = b.group_by(cols).len()
    return pl.concat(
        [
            ca.join(cb, on=[*cols, "len"], how="anti", nulls_equal=True),
            cb.join(ca, on=[*cols, "len"], how="anti", nulls_equal=True),
        ]
    ).drop("len")


def affected(indicator: Indicator, touched: Touched, first: int, last: int) -> set[int]:
    """The reported months (``first .. last``) an indicator's cells can have changed in."""
    out: set[int] = set()
    for key, reaches in dependencies(indicator).items():
        for a, b in touched.get(key, ()):
            for r in reaches:
                lo = max(first, a + r.lo)
                hi = min(last, b + r.hi if b < FOREVER else last)
                out.update(range(lo, hi + 1))
    return out


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Per indicator: ``None`` to compute every month, else the months to compute (empty:
    reuse them all); the previous run's cells to take the others from; and why."""

    months: dict[str, set[int] | None] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    previous: Path | None = None

    def previous_cells(self, indicator_id: str) -> Path | None:
        if self.previous is None:
            return None
        path = self.previous / CELLS_DIR / f"{indicator_id}.parquet"
        return path if path.exists() else None


def state(
    wh: Warehouse, period_set: months.Periods, data_end: dt.date, fingerprints: dict[str, str]
) -> dict:
    """What the next run needs to know about this one (``manifest.json`` ``reuse``)."""
    m = wh.manifest
    return {
        "months": period_set.indexes,
        "snapshot": m.snapshot,
        "batch": m.batch,
        "committed_at": m.committed_at,
        "lineage": lineage(m.batches, m.batch),
        "data_end": data_end.isoformat(),
        "fingerprints": fingerprints,
    }


def plan(
    engine,
    wh: Warehouse,
    library,
    found,
    period_set: months.Periods,
    data_end: dt.date,
    fingerprints: dict[str, str],
    previous: Path | None,
) -> Plan:
    """Which months each indicator must compute, given the previous run (None: all)."""
    out = Plan()
    prior = _previous_state(previous)
    reason = "no earlier run to reuse" if previous is None else None
    touched: Touched | None = None
    if prior is None and reason is None:
        reason = "the previous run recorded nothing to reuse"
    if reason is None:
        try:
            touched = warehouse_changes(engine, wh, prior, data_end)
            for key, spans in input_changes(found, previous).items():
                touched.setdefault(key, set()).update(spans)
            out.previous = previous
        except Everything as exc:
            reason = str(exc)
    computed = set(period_set.indexes)
    old_periods = set(prior.get("months", [])) if prior else set()
    for indicator in library:
        iid = indicator.id
        if touched is None:
            out.months[iid], out.reasons[iid] = None, reason
        elif prior["fingerprints"].get(iid) != fingerprints.get(iid):
            out.months[iid], out.reasons[iid] = None, "its definition, codes or cohort changed"
        elif out.previous_cells(iid) is None:
            out.months[iid], out.reasons[iid] = None, "not computed in the previous run"
        else:
            todo = affected(indicator, touched, period_set.first, period_set.last)
            todo |= computed - old_periods
            out.months[iid] = todo
            out.reasons[iid] = f"{len(todo)} of {len(computed)} months changed"
    return out


def _previous_state(previous: Path | None) -> dict | None:
    if previous is None:
        return None
    manifest = json.loads(paths.run_manifest(previous).read_text())
    return manifest.get("reuse")
