"""A demo locality for the reconstruction attack: the app tests' 3,000-patient practice split
into five practices of very different sizes (40%, 25%, 20%, 10% and 5% of the patients) in
three neighbourhoods (two practices, two practices, one), written through a warehouse
transaction, so that the published tables have many small counts, suppressed rows with
siblings, a neighbourhood of one practice and totals to take shown parts away from."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from wraparound.warehouse.store import Warehouse

SHARES = (40, 25, 20, 10, 5)
NEIGHBOURHOODS = ("U90001", "U90002", "U90002", "U90003", "U90001")
PRACTICES = ("P90001", "P90002", "P90003", "P90004", "P90005")
NAMES = {
    "P90002": "Second Street Surgery",
    "P90003": "Third Avenue Practice",
    "P90004": "Fourth Lane Medical Centre",
    "P90005": "Fifth Row Health Centre",
    "U90002": "Second Neighbourhood",
    "U90003": "Third Neighbourhood",
}


def split_locality(root: Path) -> dict[str, str]:
    """Split the warehouse's one practice in five; returns practice -> neighbourhood."""
    wh = Warehouse(root)
    orgs = pl.from_arrow(wh.read("organisations"))
    regs = pl.from_arrow(wh.read("registrations"))
    practice = orgs.filter(pl.col("kind") == "practice").row(0, named=True)
    hood = orgs.filter(pl.col("kind") == "neighbourhood").row(0, named=True)
    assert practice["org_id"] == PRACTICES[0] and hood["org_id"] == NEIGHBOURHOODS[0]
    new_rows = [
        {**hood, "id": h, "org_id": h, "name": NAMES[h]} for h in sorted(set(NEIGHBOURHOODS))[1:]
    ]
    new_rows += [
        {**practice, "id": p, "org_id": p, "name": NAMES[p], "parent_id": h}
        for p, h in zip(PRACTICES[1:], NEIGHBOURHOODS[1:], strict=True)
    ]
    patients = sorted(regs["patient_id"].unique().to_list())
    assignment, start = {}, 0
    for practice_id, share in zip(PRACTICES, SHARES, strict=True):
        count = len(patients) * share // 100
        for patient_id in patients[start : start + count]:
            assignment[patient_id] = practice_id
        start += count
    mapping = pl.DataFrame(
        {"patient_id": list(assignment), "_to": list(assignment.values())},
        schema={"patient_id": pl.String, "_to": pl.String},
    )
    regs = (
        regs.join(mapping, on="patient_id", how="left")
        .with_columns(practice_id=pl.coalesce("_to", "practice_id"))
        .drop("_to")
    )
    with wh.transaction({"source": "test: five practices in three neighbourhoods"}) as tx:
        tx.append(
            "organisations",
            pl.concat([orgs, pl.DataFrame(new_rows, schema=orgs.schema)]).to_arrow(),
        )
        tx.append("registrations", regs.to_arrow())
    return dict(zip(PRACTICES, NEIGHBOURHOODS, strict=True))
