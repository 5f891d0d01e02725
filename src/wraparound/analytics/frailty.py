"""The electronic Frailty Index (Clegg et al. 2016) at a date, over the engine.

The 36 deficits and their SNOMED CT code lists are data (``data/efi_deficits.csv``, read
through ``clinical.efi_deficits()``); this module only knows the two rules that are not code
lists: a code-based deficit is present once any of its codes is recorded on or before the
date (no look-back, and abatement is ignored: Clegg counts a deficit ever recorded), and
polypharmacy is ``POLYPHARMACY_MIN_DISTINCT_MEDICATIONS`` or more distinct medicine codes
issued in the ``POLYPHARMACY_LOOKBACK_DAYS`` up to and including the date.

The score is deficits / 36 and is given only to people aged 65 and over, the population the
index was developed and validated in; younger people get nulls rather than a number that
looks meaningful and is not.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from ibis import _

from wraparound import clinical
from wraparound.vocabulary import EFI_CATEGORIES

MIN_AGE = 65
"""The eFI was developed and validated in people aged 65 and over."""

CATEGORIES = tuple(zip(EFI_CATEGORIES, (0.12, 0.24, 0.36, None), strict=True))
"""Upper bounds (inclusive) of each category's score: 0-4, 5-8, 9-12 and 13+ deficits."""


def deficit_columns() -> list[str]:
    """Column names of the 36 deficit flags, ``efi_<deficit_id>``, in file order."""
    return [f"efi_{d.deficit_id}" for d in clinical.efi_deficits()]


def category(score):
    """The eFI category of a score column (null stays null)."""
    cases = [(score <= bound, name) for name, bound in CATEGORIES if bound is not None]
    return ibis.cases((score.isnull(), ibis.null("string")), *cases, else_=CATEGORIES[-1][0]).cast(
        "string"
    )


def _deficit_codes(engine) -> ibis.Table:
    rows = [(code, d.deficit_id) for d in clinical.efi_deficits() for code in d.codes]
    return engine.memtable(
        pa.table({"code": [r[0] for r in rows], "deficit_id": [r[1] for r in rows]})
    )


def polypharmacy(engine, as_of: dt.date) -> ibis.Table:
    """Distinct medicines issued in the look-back: patient_id, n_medicines."""
    meds = engine.table("medications")
    start = as_of - dt.timedelta(days=clinical.POLYPHARMACY_LOOKBACK_DAYS)
    recent = meds.filter((meds.start_date > start) & (meds.start_date <= as_of))
    return recent.group_by("patient_id").agg(n_medicines=_.code.nunique())


def deficits(engine, as_of: dt.date) -> ibis.Table:
    """One row per patient with any deficit: patient_id and a 0/1 column per deficit."""
    cond = engine.table("conditions")
    coded = (
        cond.filter(cond.onset_date <= as_of)
        .join(_deficit_codes(engine), "code")
        .select("patient_id", "deficit_id")
        .distinct()
    )
    poly = (
        polypharmacy(engine, as_of)
        .filter(_.n_medicines >= clinical.POLYPHARMACY_MIN_DISTINCT_MEDICATIONS)
        .select("patient_id", deficit_id=ibis.literal("polypharmacy"))
    )
    return (
        coded.union(poly)
        .group_by("patient_id")
        .agg(
            **{
                f"efi_{d.deficit_id}": (_.deficit_id == d.deficit_id).any().cast("int8")
                for d in clinical.efi_deficits()
            }
        )
    )


def efi(engine, people: ibis.Table, as_of: dt.date) -> ibis.Table:
    """``people`` (which must have patient_id and age) with the deficit flags, the deficit
    count ``efi_deficits``, the score ``efi`` and ``efi_category``; score and category are
    null under 65. Deficit flags are given at every age: they are findings in their own
    right (falls, housebound) whatever the patient's age."""
    flags = deficit_columns()
    joined = people.left_join(deficits(engine, as_of), "patient_id").drop("patient_id_right")
    joined = joined.mutate(**{c: joined[c].fill_null(0) for c in flags})
    count = sum((joined[c].cast("int16") for c in flags[1:]), joined[flags[0]].cast("int16"))
    score = ibis.ifelse(
        joined.age >= MIN_AGE, count / clinical.EFI_DEFICIT_COUNT, ibis.null("float64")
    )
    return joined.mutate(efi_deficits=count, efi=score, efi_category=category(score))
