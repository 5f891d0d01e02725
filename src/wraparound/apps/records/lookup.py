"""The app's patients by pseudonym: how every refresh step turns warehouse rows into rows of
its own tables.

Warehouse rows name patients by pseudonym; the app's rows point at ``Patient`` by primary key.
A refresh step asks for the patients of the rows it is about to write, and those can be a
handful (an incremental batch) or every patient of a region (a first load). One IN list of
them all is over SQLite's limit on a statement's variables (250,000 in Debian's build, 32,766
by SQLite's default; a first ``app refresh`` of 300,000 failed on it), and thousands of small
IN lists are slower than reading the index once. So a lookup of more than ``FULL_SCAN``
pseudonyms reads the whole patient index in one pass, and a smaller one goes in IN lists of
``CHUNK``, well under either limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from wraparound.apps.records.models import Patient

FULL_SCAN = 50_000  # more pseudonyms than this: read the whole patient index once
CHUNK = 5_000  # pseudonyms per IN list
_SCAN_ROWS = 20_000  # rows fetched at a time while reading the whole index


def by_pseudonym(pseudonyms: Iterable[str], *fields: str) -> dict:
    """Pseudonym -> ``fields`` (default the pk) of the app's patients among ``pseudonyms``:
    the value itself for one field, a tuple for several. Pseudonyms the app does not hold
    are left out."""
    fields = fields or ("pk",)
    wanted = set(pseudonyms)
    found: dict = {}
    if not wanted:
        return found
    single = len(fields) == 1
    columns = ("pseudonym", *fields)
    if len(wanted) > FULL_SCAN:
        rows = Patient.objects.values_list(*columns).iterator(chunk_size=_SCAN_ROWS)
        chunks = [(row for row in rows if row[0] in wanted)]
    else:
        ordered = sorted(wanted)
        chunks = (
            Patient.objects.filter(pseudonym__in=ordered[i : i + CHUNK]).values_list(*columns)
            for i in range(0, len(ordered), CHUNK)
        )
    for chunk in chunks:
        for row in chunk:
            found[row[0]] = row[1] if single else row[1:]
    return found
