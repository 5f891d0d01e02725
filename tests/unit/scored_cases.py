"""Eleven patients whose streams, risk bands and registers are worked by hand, for the streams
and registers spec cases on every engine.

The engine computes each patient's feature row (eFI category, long-term conditions by their
age rules, practice and neighbourhood from the organisation table); the risk score is given
by hand, so the packaged rules (``data/streams.toml``: bands at the top 0.5/2/10%, streams
by top 2%/severe/palliative then top 10%/moderate/2 LTCs, registers of the top 2% of a unit)
decide the rest. With 11 patients the top 0.5% and 2% are 1 patient, the top 10% are 2.

======= ===== ======== ============================================ =====================
patient score practice records (age)                                stream
======= ===== ======== ============================================ =====================
s01     0.90  P1       none (50)                                    high_needs: top 2%
s02     0.80  P2       13 eFI deficits (80): severe                 high_needs: severe
s03     0.70  P1       palliative care (60)                         high_needs: register
s04     0.60  P2       9 eFI deficits (70): moderate                intermediate: moderate
s05     0.50  P1       diabetes and asthma (40)                     intermediate: 2 LTCs
s06     0.40  P2       depression (40)                              less_complex: 1 LTC
s07     0.30  P1       13 eFI deficits (50): no eFI under 65        less_complex
s08     0.20  P2       depression and asthma (12): depression is 18+ less_complex: 1 LTC
s09     0.10  P1       5 eFI deficits (70): mild                    less_complex
s10     0.05  P2       none (30)                                    less_complex
s11     0.01  P3       none (30); P3 is in no neighbourhood         less_complex
======= ===== ======== ============================================ =====================

The eFI deficits are ones on no register (falls, dizziness, ...), so they add no LTCs.
"""

from __future__ import annotations

import polars as pl
from builders import INDEX, coded_deficits, on_register, person, write

from wraparound.analytics.features import features
from wraparound.analytics.streams import assign, load_rules

SCORES = {
    "s01": 0.90,
    "s02": 0.80,
    "s03": 0.70,
    "s04": 0.60,
    "s05": 0.50,
    "s06": 0.40,
    "s07": 0.30,
    "s08": 0.20,
    "s09": 0.10,
    "s10": 0.05,
    "s11": 0.01,
}
AGES = {
    "s01": 50,
    "s02": 80,
    "s03": 60,
    "s04": 70,
    "s05": 40,
    "s06": 40,
    "s07": 50,
    "s08": 12,
    "s09": 70,
    "s10": 30,
    "s11": 30,
}


def _practice(pid: str) -> str:
    if pid == "s11":
        return "P3"
    return "P1" if int(pid[1:]) % 2 else "P2"


def write_cases(root):
    conditions = [
        *coded_deficits("s02", 13, off_registers=True),
        on_register("s03", "palliative_care"),
        *coded_deficits("s04", 9, off_registers=True),
        on_register("s05", "diabetes"),
        on_register("s05", "asthma"),
        on_register("s06", "depression"),
        *coded_deficits("s07", 13, off_registers=True),
        on_register("s08", "depression"),
        on_register("s08", "asthma"),
        *coded_deficits("s09", 5, off_registers=True),
    ]
    people = [person(pid, AGES[pid], practice=_practice(pid)) for pid in SCORES]
    return write(root, *people, {"conditions": conditions})


def scored(engine, root) -> pl.DataFrame:
    """The cases' feature rows at ``INDEX`` from ``engine``, with the hand-given scores, put
    through the packaged rules (``streams.assign``)."""
    with engine.connect(root) as opened:
        table = pl.from_arrow(features(opened, INDEX))
    return assign(
        table.with_columns(
            score=pl.col("patient_id").replace_strict(SCORES, return_dtype=pl.Float64),
            reasons=pl.lit(["hand-given score"]),
        ),
        load_rules(),
    )
