"""``wraparound demand``: projected demand from the lists' age mix, population growth by age
band (``data/growth/*.toml``) and today's use rates, with and without the target.

* **Today's rates**, per age band, over the 12 months to the last encounter, through the
  engine: attended GP appointments, hub minutes (attended appointments at a hub, by their
  booked length), A&E attendances and emergency admissions, each over registered
  person-years (``population.person_years``).
* **The population** by band on that date (``population.registered_on``), grown by each
  band's annual rate: ``P_b(y) = P_b(0) · (1 + g_b)^y``.
* **Projected use** in year ``y`` is ``Σ_b r_b · P_b(y)``; *with the target*, the target's
  measure is multiplied by ``1 + relative_change`` (emergency admissions −15% in the demo).
* **Intervals** carry the rates' uncertainty: each band's rate is drawn from its Gamma
  posterior, ``Gamma(events + ½, 1 / person-years)`` (Jeffreys' prior on a Poisson rate),
  4,000 times with a fixed seed, and the 2.5th and 97.5th centiles of the projected totals
  are given. The growth rates are taken as known (they are a scenario, not an estimate), so
  the intervals are about how well today's rates are measured, not about the future.

Writes ``DIR/evaluation/demand/projection.json`` (``warehouse/paths.demand``) for the app.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import ibis
import numpy as np
from ibis import _
from rich.progress import Progress

from wraparound.analytics.population import person_years, registered_on
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect

MEASURES = {
    "gp_appointments": "GP appointments",
    "hub_minutes": "Hub minutes",
    "ae_attendances": "A&E attendances",
    "emergency_admissions": "Emergency admissions",
}
DRAWS = 4000


class GrowthError(ValueError):
    """A growth file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Band:
    name: str
    min_age: int
    max_age: int
    annual_growth: float


@dataclass(frozen=True)
class Growth:
    id: str
    version: str
    name: str
    source: str
    bands: tuple[Band, ...]
    target_measure: str
    target_change: float


def parse_growth(text: str, where: str) -> Growth:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GrowthError(f"{where}: {exc}") from None
    for key in ("id", "version", "name"):
        if not data.get(key):
            raise GrowthError(f"{where}: {key} is required")
    bands = []
    for i, b in enumerate(data.get("band", [])):
        try:
            band = Band(
                str(b["name"]), int(b["min_age"]), int(b["max_age"]), float(b["annual_growth"])
            )
        except (KeyError, TypeError, ValueError):
            raise GrowthError(
                f"{where}: band {i + 1} needs name, min_age, max_age and annual_growth"
            ) from None
        if not -0.5 < band.annual_growth < 0.5:
            raise GrowthError(f"{where}: band {band.name}: annual_growth must be in (-0.5, 0.5)")
        bands.append(band)
    if not bands:
        raise GrowthError(f"{where}: at least one [[band]] is required")
    expected = 0
    for band in sorted(bands, key=lambda b: b.min_age):
        if band.min_age != expected or band.max_age < band.min_age:
            raise GrowthError(f"{where}: bands must cover every age from 0 once ({band.name})")
        expected = band.max_age + 1
    target = data.get("target", {})
    measure = target.get("measure", "emergency_admissions")
    if measure not in MEASURES:
        raise GrowthError(f"{where}: target.measure must be one of {', '.join(MEASURES)}")
    change = float(target.get("relative_change", 0.0))
    if not -1 < change <= 1:
        raise GrowthError(f"{where}: target.relative_change must be in (-1, 1]")
    return Growth(
        data["id"],
        str(data["version"]),
        data["name"],
        str(data.get("source", "")).strip(),
        tuple(sorted(bands, key=lambda b: b.min_age)),
        measure,
        change,
    )


def load_growth(name_or_path: str | Path) -> Growth:
    """A packaged growth scenario by id (``data/growth/<id>.toml``) or a file by path."""
    text = str(name_or_path)
    packaged = files("wraparound").joinpath(f"data/growth/{text}.toml")
    if "/" not in text and packaged.is_file():
        return parse_growth(packaged.read_text(), f"data/growth/{text}.toml")
    path = Path(text)
    if path.suffix == ".toml" and path.is_file():
        return parse_growth(path.read_text(), str(path))
    raise GrowthError(f"no growth scenario {text!r} (a packaged id or a .toml path)")


def _band_of(age, bands: tuple[Band, ...]):
    return ibis.cases(
        *[((age >= b.min_age) & (age <= b.max_age), b.name) for b in bands], else_=None
    )


def rates(engine, bands: tuple[Band, ...]) -> tuple[dt.date, dict]:
    """Events and person-years per band and measure over the last 12 months, and the
    registered population per band on the last day."""
    enc = engine.table("encounters")
    last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0].as_py()
    if last is None:
        raise ValueError("the warehouse has no encounters to project from")
    as_of = last.date()
    start, end = as_of - dt.timedelta(days=365), as_of + dt.timedelta(days=1)
    py = person_years(engine, start, end).mutate(band=lambda t: _band_of(t.age, bands))
    years = {
        r["band"]: r["years"]
        for r in engine.to_arrow(py.group_by("band").agg(years=_.years.sum())).to_pylist()
    }
    ages = py.select("patient_id", "band").distinct(on="patient_id")
    orgs = engine.table("organisations")
    hubs = orgs.filter(orgs.kind == "hub").select("org_id")
    window = enc.filter(
        (enc.status == "attended") & (enc.start.date() >= start) & (enc.start.date() < end)
    )
    window = window.mutate(
        at_hub=window.org_id.isin(hubs.org_id),
        minutes=window.end.delta(window.start, unit="minute"),
    ).join(ages, "patient_id")
    counts = engine.to_arrow(
        window.group_by("band").agg(
            gp_appointments=(window.kind == "gp_appointment").sum(),
            hub_minutes=ibis.ifelse(
                (window.kind == "gp_appointment") & window.at_hub, window.minutes, 0
            ).sum(),
            ae_attendances=(window.kind == "ae_attendance").sum(),
            emergency_admissions=(window.kind == "emergency_admission").sum(),
        )
    ).to_pylist()
    by_band = {r["band"]: r for r in counts}
    pop = registered_on(engine, as_of).mutate(band=lambda t: _band_of(t.age, bands))
    population = {
        r["band"]: r["n"]
        for r in engine.to_arrow(pop.group_by("band").agg(n=_.count())).to_pylist()
    }
    out = {}
    for b in bands:
        row = by_band.get(b.name, {})
        out[b.name] = {
            "population": int(population.get(b.name, 0)),
            "person_years": float(years.get(b.name, 0.0) or 0.0),
            "events": {m: float(row.get(m) or 0) for m in MEASURES},
        }
    return as_of, out


def projection(as_of: dt.date, table: dict, growth: Growth, years: int, seed: int = 16) -> dict:
    """The projection from per-band counts (``rates``' output): numbers only, no engine."""
    rng = np.random.default_rng(seed)
    names = [b.name for b in growth.bands]
    g = np.array([b.annual_growth for b in growth.bands])
    p0 = np.array([table[n]["population"] for n in names], dtype=float)
    pyears = np.array([max(table[n]["person_years"], 1e-9) for n in names])
    horizon = np.arange(0, years + 1)
    pops = p0[None, :] * (1 + g[None, :]) ** horizon[:, None]  # year x band
    measures = []
    for m, label in MEASURES.items():
        events = np.array([table[n]["events"][m] for n in names])
        rate = events / pyears
        # Hub minutes are minutes, not counts: the Gamma is on appointments' minutes as if
        # each minute were an event, which understates their spread; said in the docs.
        draws = rng.gamma(events[None, :] + 0.5, 1.0 / pyears[None, :], (DRAWS, len(names)))
        point = pops @ rate
        sims = draws @ pops.T  # draws x year
        factor = 1 + growth.target_change if m == growth.target_measure else 1.0
        rows = []
        for k, y in enumerate(horizon):
            lo, hi = np.percentile(sims[:, k], [2.5, 97.5])
            rows.append(
                {
                    "year": as_of.year + int(y),
                    "population": float(pops[k].sum()),
                    "projected": float(point[k]),
                    "lower": float(lo),
                    "upper": float(hi),
                    "projected_with_target": float(point[k] * factor),
                    "lower_with_target": float(lo * factor),
                    "upper_with_target": float(hi * factor),
                }
            )
        measures.append(
            {
                "measure": m,
                "name": label,
                "baseline": float(point[0]),
                "target_applies": m == growth.target_measure,
                "rates_per_1000": {n: float(1000 * r) for n, r in zip(names, rate, strict=True)},
                "years": rows[1:],
            }
        )
    return {
        "as_of": as_of.isoformat(),
        "growth": {
            "id": growth.id,
            "version": growth.version,
            "name": growth.name,
            "source": growth.source,
            "bands": [
                {
                    "name": b.name,
                    "annual_growth": b.annual_growth,
                    "population": table[b.name]["population"],
                    "person_years": table[b.name]["person_years"],
                }
                for b in growth.bands
            ],
            "target": {"measure": growth.target_measure, "relative_change": growth.target_change},
        },
        "years": years,
        "draws": DRAWS,
        "measures": measures,
    }


def project(warehouse: Path, growth: Growth, *, years: int = 5, progress: bool = True) -> dict:
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("demand: today's rates", total=2)
        with connect(warehouse) as engine:
            as_of, table = rates(engine, growth.bands)
        bar.update(task, advance=1, description="demand: projecting")
        result = projection(as_of, table, growth, years)
        bar.advance(task)
    folder = paths.demand(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".projection.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(folder / "projection.json")
    return result


def read_projection(warehouse: Path) -> dict | None:
    path = paths.demand(warehouse) / "projection.json"
    return json.loads(path.read_text()) if path.exists() else None
