"""Everything one ingest invocation has read so far: rows per table, where each came from,
the errors found, and the indexes that later resolve references.

Readers append warehouse-shaped rows (lists, in ``ingest_rules.COLUMNS`` order) whose
reference columns still hold FHIR reference strings; ``ingest_check`` replaces them once
the whole batch is known, because a reference may point forwards to a later file. This class
holds a batch in memory (the readers' unit tests use it); ingest itself reads into
``ingest_stage.StagedBatch``, which writes the rows to disk as they come. Where a
row came from is kept as one packed integer per row (file number and position) rather than
an object, so a million-row batch costs a million small ints, not a million records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from wraparound.sources.ingest_values import Clock, Reject
from wraparound.warehouse.schema import TABLES

_POS_BITS = 32
_POS_MASK = (1 << _POS_BITS) - 1

NDJSON = "ndjson"
BUNDLE = "bundle"
RESOURCE = "resource"
CSV = "csv"


@dataclass
class SourceFile:
    path: Path
    format: str  # ndjson | bundle | resource | csv
    resources: int = 0


@dataclass
class Batch:
    """Rows, provenance, errors and indexes of one batch (see the module docstring)."""

    clock: Clock
    files: list[SourceFile] = field(default_factory=list)
    rows: dict[str, list[list]] = field(default_factory=lambda: {t: [] for t in TABLES})
    locs: dict[str, list[int]] = field(default_factory=lambda: {t: [] for t in TABLES})
    errors: list[dict] = field(default_factory=list)
    read_by_type: Counter = field(default_factory=Counter)
    skipped_types: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # supported types with nothing to load
    data_quality: Counter = field(default_factory=Counter)
    # Indexes for reference resolution, keyed by logical id within the batch.
    patients: dict[str, str] = field(default_factory=dict)  # id -> patient_id
    births: dict[str, date | None] = field(default_factory=dict)  # patient_id -> birth_date
    orgs: dict[str, str] = field(default_factory=dict)  # id -> org_id
    org_kinds: dict[str, str] = field(default_factory=dict)  # org_id -> kind
    practitioners: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    identifiers: dict[tuple[str, str, str], str] = field(default_factory=dict)
    full_urls: dict[str, tuple[str, str]] = field(default_factory=dict)
    medications: dict[str, dict] = field(default_factory=dict)  # Medication id -> code
    # Rows whose value depends on another resource, settled after references resolve:
    # medication rows coded by a Medication reference, and ambulatory Encounter rows whose
    # kind depends on whether the provider is a practice.
    pending_medications: list[tuple[list, str, int]] = field(default_factory=list)
    ambulatory: list[list] = field(default_factory=list)
    # Reference strings that extraction built from a Reference.identifier (no
    # Reference.reference): in an optional column (ingest_rules.OPTIONAL_REFERENCES) one that
    # resolves to nothing is cleared and counted, not rejected (docs/fhir-mapping.md).
    identifier_refs: set[str] = field(default_factory=set)
    # Bundle entries with request.method DELETE: (warehouse table, source id, loc). Added by
    # the FHIR reader (H1, issue 10); the write path removes the row with that ``id`` after
    # the batch's upserts, and counts an id it does not find as a data-quality flag.
    deletions: list[tuple[str, str, int]] = field(default_factory=list)
    # Files recognised as a bulk export's own (log.ndjson, manifest.json, OperationOutcome
    # error files): {"file", "reason"}, listed in the report, never read as resources.
    skipped_files: list[dict] = field(default_factory=list)

    def add_file(self, path: Path, fmt: str) -> int:
        self.files.append(SourceFile(path, fmt))
        return len(self.files) - 1

    @staticmethod
    def loc(file_no: int, position: int) -> int:
        return (file_no << _POS_BITS) | position

    def add(self, table: str, row: list, loc: int) -> None:
        self.rows[table].append(row)
        self.locs[table].append(loc)

    def position(self, loc: int) -> tuple[str, str]:
        """(file, human position) of a packed location."""
        source = self.files[loc >> _POS_BITS]
        pos = loc & _POS_MASK
        if source.format == BUNDLE:
            where = f"entry[{pos}]"
        elif source.format == RESOURCE:
            where = "resource"
        else:
            where = f"line {pos}"
        return str(source.path), where

    def error(
        self,
        loc: int,
        problem: Reject,
        resource_type: str | None,
        resource_id: str | None,
        position: str | None = None,
    ) -> None:
        file, where = self.position(loc)
        self.errors.append(
            {
                "file": file,
                "position": position or where,
                "resource_type": resource_type,
                "id": resource_id,
                "code": problem.code,
                "reason": problem.reason,
            }
        )

    def file_error(self, file_no: int, problem: Reject, position: str) -> None:
        self.error(self.loc(file_no, 0), problem, None, None, position=position)
