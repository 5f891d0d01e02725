"""Column conversions and reference lookups shared by the FHIR resource builders.

The builders turn one Arrow table at a time into plain dicts for orjson. Formatting dates and
instants is done here, vectorised in Arrow, so the per-row Python loops only assemble dicts:
that is what keeps the writer near a million resources in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from wraparound.warehouse.schema import CODE_SYSTEMS

# FHIR ``id``: 1-64 characters from this set. Checked per table, because a bad logical id makes
# every reference to the resource invalid too.
_FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"


def column(table: pa.Table, name: str) -> list:
    """A column as Python values (one bulk conversion, never per-row Arrow access)."""
    return table.column(name).to_pylist()


def dates(table: pa.Table, name: str) -> list[str | None]:
    """A ``date32`` column as FHIR dates (``YYYY-MM-DD``)."""
    return table.column(name).cast(pa.string()).to_pylist()


def instants(table: pa.Table, name: str) -> list[str | None]:
    """A UTC timestamp column as FHIR instants, e.g. ``2024-03-01T09:30:00Z``.

    Fractional seconds are kept when present (so microseconds survive the round trip) and
    dropped when zero, which is the common case and keeps the files small.
    """
    text = pc.strftime(table.column(name), format="%Y-%m-%dT%H:%M:%SZ")
    return pc.replace_substring(text, ".000000Z", "Z").to_pylist()


def metas(table: pa.Table) -> list[dict | None]:
    """``meta`` per row: ``versionId`` from ``version_id``, ``lastUpdated`` from ``updated_at``.

    Either part is left out when null, and ``meta`` itself when both are.
    """
    versions = column(table, "version_id")
    updated = instants(table, "updated_at")
    if versions.count(None) == len(versions) and updated.count(None) == len(updated):
        return [None] * table.num_rows
    out: list[dict | None] = []
    for version, last in zip(versions, updated, strict=True):
        meta = {}
        if version is not None:
            meta["versionId"] = str(version)
        if last is not None:
            meta["lastUpdated"] = last
        out.append(meta or None)
    return out


def check_ids(name: str, table: pa.Table) -> None:
    """Raise ValueError unless every ``id`` is a valid FHIR logical id."""
    ok = pc.match_substring_regex(table.column("id"), _FHIR_ID)
    if not pc.all(ok).as_py():
        bad = table.column("id").filter(pc.invert(ok))[0].as_py()
        raise ValueError(f"{name}: id {bad!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})")


def codings(table: pa.Table) -> list[dict]:
    """``{"system": uri, "code": code}`` per row from the short ``system`` and ``code`` columns."""
    systems = column(table, "system")
    codes = column(table, "code")
    try:
        return [{"system": CODE_SYSTEMS[s], "code": c} for s, c in zip(systems, codes, strict=True)]
    except KeyError as exc:
        raise ValueError(
            f"unknown code system {exc.args[0]!r}; known: {list(CODE_SYSTEMS)}"
        ) from exc


@dataclass
class References:
    """Turns the warehouse's keys into FHIR references.

    The warehouse keys organisations by ODS code and patients by pseudonym, but FHIR references
    point at logical ids. Organisations arrive once (first chunk) and are kept for the whole
    run; the pseudonym map is replaced with each chunk, so memory stays bounded by chunk size.
    """

    organisations: dict[str, str] = field(default_factory=dict)  # ODS code -> "Organization/<id>"
    patients: dict[str, str] = field(default_factory=dict)  # pseudonym -> Patient logical id

    def organisation(self, ods: str | None) -> dict | None:
        """``{"reference": "Organization/<id>"}`` for an ODS code (None for None)."""
        if ods is None:
            return None
        try:
            return {"reference": self.organisations[ods]}
        except KeyError:
            raise ValueError(
                f"ODS code {ods!r} is not an organisation in this population"
            ) from None

    def patient(self, pseudonym: str) -> str:
        """The Patient logical id for a ``patient_id`` pseudonym."""
        try:
            return self.patients[pseudonym]
        except KeyError:
            raise ValueError(
                f"patient_id {pseudonym!r} has no row in this chunk's patients table"
            ) from None
