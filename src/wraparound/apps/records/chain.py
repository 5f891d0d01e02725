"""The audit trail's hash chain: each row carries an HMAC over its content and the previous
row's hash, so an edit, deletion, insertion or reordering made behind the app's back (a
dropped trigger, a restored backup, a hand-edited file) breaks a link that
:func:`verify` finds.

Appending is serialised so two requests can never chain onto the same previous row: on
PostgreSQL a transaction-scoped advisory lock is taken before the head of the chain is read
(and held until commit); on SQLite every transaction begins ``IMMEDIATE`` (settings), which
takes the database's single write lock first. The row's time is read from the database's
clock inside that section, never from Python's, and the insert trigger (migration
``records/0003``) refuses a time that is not the database's own or a row that does not
continue the chain from the last one.

The HMAC key is ``settings.AUDIT_CHAIN_KEY`` (``WRAPAROUND_AUDIT_KEY``, else the secret
key): someone who can write to the database but does not hold the key cannot re-forge the
chain after an edit. What a chain cannot show is rows cut off its end; the count of rows is
reported by ``verify`` for comparison with an external record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction

TABLE = "records_auditevent"
# Every column that says what happened; ``id`` is not hashed (the chain's order is the ids').
CHAINED_FIELDS = (
    "at",
    "user_id",
    "username",
    "role",
    "patient_id",
    "action",
    "what",
    "basis",
    "outcome",
    "reason",
    "method",
    "path",
)
ADVISORY_LOCK = 0x7769726170  # "wirap": one key for the audit chain across the database
CLOCK_SQL = {
    "postgresql": "SELECT clock_timestamp()",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def canonical_time(value: dt.datetime) -> str:
    """One spelling of a time whatever the backend returns (UTC, microseconds)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest(row: dict, prev_hash: str) -> str:
    """HMAC-SHA256 over the row's chained fields and the previous row's hash."""
    content = [canonical_time(row["at"]) if row["at"] is not None else None]
    content += [row[name] for name in CHAINED_FIELDS[1:]]
    content.append(prev_hash)
    message = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
    key = settings.AUDIT_CHAIN_KEY.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# The database's time and the head of the chain in one statement (read under the lock).
CLOCK_AND_HEAD_SQL = {
    vendor: f"{clock}, (SELECT hash FROM {TABLE} ORDER BY id DESC LIMIT 1)"
    for vendor, clock in CLOCK_SQL.items()
}
INSERTED_FIELDS = (*CHAINED_FIELDS, "prev_hash", "hash")
INSERT_SQL = (
    f"INSERT INTO {TABLE} ({', '.join(INSERTED_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(INSERTED_FIELDS))}) RETURNING id"
)


def _clock_and_head(cursor, vendor: str) -> tuple[dt.datetime, str]:
    cursor.execute(CLOCK_AND_HEAD_SQL[vendor])
    value, head = cursor.fetchone()
    if isinstance(value, str):  # SQLite: text in UTC
        value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value, head or ""


def _insert(cursor, connection, event, using: str) -> None:
    """The row as one prepared INSERT (the same statement every time; no ORM compile)."""
    values = [getattr(event, name) for name in INSERTED_FIELDS]
    values[0] = connection.ops.adapt_datetimefield_value(event.at)
    cursor.execute(INSERT_SQL, values)
    event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = using


def append(event, save=None) -> None:
    """Give ``event`` the database's time and its place in the chain, then save it (with
    ``save()`` when given, else one prepared INSERT), all under the chain's lock: on
    SQLite the transaction is ``BEGIN IMMEDIATE``, so the head read here is still the head
    when the row is written; the insert trigger checks that again."""
    using = event._state.db or "default"
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
        event.at, event.prev_hash = _clock_and_head(cursor, connection.vendor)
        event.hash = digest(
            {name: getattr(event, name) for name in CHAINED_FIELDS}, event.prev_hash
        )
        if save is None:
            _insert(cursor, connection, event, using)
        else:
            save()


@dataclass
class Verdict:
    """What :func:`verify` found: rows checked, and the first broken link if any."""

    rows: int
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(using: str = "default") -> Verdict:
    """Walk the chain in id order; stop at the first row whose link to the previous row or
    whose own hash does not hold."""
    from wraparound.apps.records.models import AuditEvent

    rows = (
        AuditEvent.objects.using(using)
        .order_by("id")
        .values("id", "prev_hash", "hash", *CHAINED_FIELDS)
        .iterator(chunk_size=2000)
    )
    previous = ""
    count = 0
    for row in rows:
        count += 1
        if row["prev_hash"] != previous:
            return Verdict(count, row["id"], "does not continue from the row before it")
        if not hmac.compare_digest(row["hash"], digest(row, row["prev_hash"])):
            return Verdict(count, row["id"], "content does not match its hash")
        previous = row["hash"]
    return Verdict(count)
