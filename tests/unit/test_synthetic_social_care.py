"""Social-care contacts in the synthetic locality: who gets them (frail and high-needs
patients), and that adding them changed nothing else the generator writes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from wraparound import clinical
from wraparound.sources.synthetic.generator import generate

PATIENTS = 4000
SEED = 11


@pytest.fixture(scope="module")
def chunk():
    return next(generate(PATIENTS, seed=SEED))


def _social(chunk):
    enc = chunk.tables["encounters"]
    return enc.filter(pc.equal(enc["kind"], "social_care")).to_pandas()


def test_social_care_contacts_are_drawn_apart_from_everything_else(monkeypatch, chunk):
    """Generated without them, every other row of every table is the same, byte for byte,
    ids included: they come last and from their own stream (``Chunk.social_rng``)."""
    from wraparound.sources.synthetic import events

    real = events._social_care

    def none(c):
        part = real(c)
        return {k: v[:0] for k, v in part.items()}

    monkeypatch.setattr(events, "_social_care", none)
    bare = next(generate(PATIENTS, seed=SEED))
    for name, table in chunk.tables.items():
        if name == "encounters":
            table = table.filter(pc.not_equal(table["kind"], "social_care"))
        assert table.equals(bare.tables[name]), name
    assert chunk.oracle.equals(bare.oracle)
    assert len(_social(chunk)) > 0


def test_social_care_goes_to_frail_and_high_needs_patients(chunk):
    sc = _social(chunk)
    patients = chunk.tables["patients"].to_pandas().set_index("patient_id")
    day = sc.start.dt.tz_convert("Europe/London").dt.date
    birth = patients.birth_date.reindex(sc.patient_id).to_numpy()
    age = np.array([(d - b).days / 365.25 for d, b in zip(day, birth, strict=True)])
    assert (age >= 18).all(), "adult social care only"
    assert (age >= 65).mean() > 0.75, "mostly older, frail people"

    # High needs: a high true risk of emergency admission gives contacts in the year after.
    oracle = chunk.oracle.to_pandas()
    first = oracle[oracle.index_date == oracle.index_date.min()]
    start = first.index_date.iloc[0]
    in_year = sc[(day >= start) & (day < start + dt.timedelta(days=365))]
    high = set(first[first.true_risk >= 0.3].patient_id)
    assert len(high) >= 20
    reached = len(high & set(in_year.patient_id)) / len(high)
    rest = set(first.patient_id) - high
    baseline = len(rest & set(in_year.patient_id)) / len(rest)
    # About 1 - e^-2 of those who live and stay registered all year; many of them die.
    assert reached > 0.5 and reached > 10 * baseline, (reached, baseline)

    # Nobody else: a contact means frailty (65+), a high risk or the palliative care register.
    palliative_codes = next(
        r.codes for r in clinical.registers() if r.register_id == "palliative_care"
    )
    cond = chunk.tables["conditions"]
    palliative = set(
        cond.filter(pc.is_in(cond["code"], value_set=pa.array(list(palliative_codes))))[
            "patient_id"
        ].to_pylist()
    )
    young = set(sc[(age < 65) & (day >= start)].patient_id)  # years the oracle covers
    risky = set(oracle[oracle.true_risk >= 0.3].patient_id)
    assert young <= risky | palliative


def test_social_care_rows_look_like_social_care(chunk):
    sc = _social(chunk)
    assert set(sc["mode"]) <= {"home_visit", "telephone", "face_to_face"}
    assert (sc["mode"] == "home_visit").mean() > 0.4
    assert set(sc.status) <= {"attended", "cancelled", "dna"}
    assert sc.org_id.isna().all() and sc.specialty.isna().all()
    assert sc.urgent_request.isna().all() and sc.booked_at.isna().all()
    assert ((sc.end - sc.start).dt.total_seconds() == 45 * 60).all()
