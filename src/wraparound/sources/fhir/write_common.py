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
    dropped when zero, which is the common case and keeps the files small. Casting the UTC
    wall time to text is several times faster than ``strftime`` with a time zone.
    """
    text = table.column(name).cast(pa.timestamp("us")).cast(pa.string())
    text = pc.replace_substring(pc.replace_substring(text, " ", "T"), ".000000", "")
    return pc.binary_join_element_wise(text, "Z", "").to_pylist()


def metas(table: pa.Table) -> list[dict | None]:
    """``meta`` per row: ``versionId`` from ``version_id``, ``lastUpdated`` from ``updated_at``.

    Either part is left out when null, and ``meta`` itself when both are. Rows written by one
    load share their meta, so equal metas are one shared dict (orjson does not mind).
    """
    versions = column(table, "version_id")
    updated = instants(table, "updated_at")
    if versions.count(None) == len(versions) and updated.count(None) == len(updated):
        return [None] * table.num_rows
    cache: dict[tuple, dict | None] = {}
    out: list[dict | None] = []
    for key in zip(versions, updated, strict=True):
        meta = cache.get(key, False)
        if meta is False:
            version, last = key
            meta = {}
            if version is not None:
                meta["versionId"] = str(version)
            if last is not None:
                meta["lastUpdated"] = last
            meta = cache[key] = meta or None
        out.append(meta)
    return out


def check_ids(name: str, table: pa.Table) -> None:
    """Raise ValueError unless every ``id`` is a valid FHIR logical id."""
    ok = pc.match_substring_regex(table.column("id"), _FHIR_ID)
    if not pc.all(ok).as_py():
        bad = table.column("id").filter(pc.invert(ok))[0].as_py()
        raise ValueError(f"{name}: id {bad!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})")


def concepts(table: pa.Table) -> list[dict]:
    """A CodeableConcept ``{"coding": [{"system": uri, "code": code}]}`` per row, from the short
    ``system`` and ``code`` columns; equal codes share one dict (code lists repeat a lot)."""
    cache: dict[tuple[str, str], dict] = {}
    out = []
    for key in zip(column(table, "system"), column(table, "code"), strict=True):
        concept = cache.get(key)
        if concept is None:
            system, code = key
            if system not in CODE_SYSTEMS:
                raise ValueError(f"unknown code system {system!r}; known: {list(CODE_SYSTEMS)}")
            concept = cache[key] = {"coding": [{"system": CODE_SYSTEMS[system], "code": code}]}
        out.append(concept)
    return out


@dataclass
class References:
    """Turns the warehouse's keys into FHIR references.

    The warehouse keys organisations by ODS code and patients by pseudonym, but FHIR references
    point at logical ids. Organisations arrive once (first chunk) and are kept for the whole
    run; the patient map is replaced with each chunk, so memory stays bounded by chunk size.
    Each reference is one dict shared by every resource that makes it.
    """

    organisations: dict[str, dict] = field(default_factory=dict)  # ODS code -> reference
    patients: dict[str, tuple[str, dict]] = field(default_factory=dict)  # pseudonym -> id, ref

    def add_organisation(self, ods: str, id_: str) -> None:
        self.organisations[ods] = {"reference": f"Organization/{id_}"}

    def set_patients(self, pseudonyms: list[str], ids: list[str]) -> None:
        self.patients = {
            p: (i, {"reference": f"Patient/{i}"}) for p, i in zip(pseudonyms, ids, strict=True)
        }

    def organisation(self, ods: str | None) -> dict | None:
        """``{"reference": "Organization/<id>"}`` for an ODS code (None for None)."""
        if ods is None:
            return None
        try:
            return self.organisations[ods]
        except KeyError:
            raise ValueError(
                f"ODS code {ods!r} is not an organisation in this population"
            ) from None

    def subjects(self, pseudonyms: list[str]) -> tuple[list[str], list[dict]]:
        """Patient logical ids and references for a column of ``patient_id`` pseudonyms."""
        try:
            pairs = [self.patients[p] for p in pseudonyms]
        except KeyError as exc:
            raise ValueError(
                f"patient_id {exc.args[0]!r} has no row in this chunk's patients table"
            ) from None
        return [p[0] for p in pairs], [p[1] for p in pairs]
