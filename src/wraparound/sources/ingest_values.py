"""Parsing of the values every ingest source shares: dates, instants, numbers, NHS numbers.

FHIR and the CSV extract both arrive as text, and both must be held to the same rules and
reported with the same error codes, so the parsing lives here rather than in either reader.
A value that cannot be accepted raises :class:`Reject`; the reader that called it knows the
file and position and turns it into an error record.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from wraparound.nhs_number import is_valid

# Stable error codes of the ingest report (docs/ingest.md lists them with examples).
MALFORMED_JSON = "malformed_json"
MALFORMED_CSV = "malformed_csv"
INVALID_NHS_NUMBER = "invalid_nhs_number"
IMPOSSIBLE_DATE = "impossible_date"
DANGLING_REFERENCE = "dangling_reference"
INVALID_REFERENCE = "invalid_reference"
UNKNOWN_CODE_SYSTEM = "unknown_code_system"
MISSING_FIELD = "missing_field"
INVALID_VALUE = "invalid_value"
# The resource does not have the FHIR R4 structure (reason from fhirclient's R4 models).
INVALID_RESOURCE = "invalid_resource"
UNEXPECTED_COLUMN = "unexpected_column"
UNKNOWN_TABLE = "unknown_table"
UNREADABLE_FILE = "unreadable_file"

# A clinical date is a calendar date somewhere on Earth; timezones run from UTC-12 to UTC+14.
# "In the future" and "before birth" are judged with that slack, so a date written in
# Auckland is never rejected for being tomorrow in London.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=14)


class Reject(Exception):
    """The resource or row cannot be loaded: ``code`` is stable, ``reason`` is for people."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_date(value: object, field: str) -> date:
    """A FHIR ``date`` or ``dateTime`` (or CSV date) as the calendar date written.

    The time and offset of a dateTime are validated but dropped: clinical dates carry no
    timezone. Partial dates (``2019``, ``2019-05``) are allowed by FHIR and mean the first
    day of the period.
    """
    if not isinstance(value, str):
        raise Reject(IMPOSSIBLE_DATE, f"{field} is not a date: {value!r}")
    try:
        n = len(value)
        if n == 10:
            return date.fromisoformat(value)
        if n > 10:
            return datetime.fromisoformat(value).date()
        if n == 7 and value[4] == "-":
            return date(int(value[:4]), int(value[5:]), 1)
        if n == 4 and value.isdigit():
            return date(int(value), 1, 1)
    except ValueError:
        pass
    raise Reject(IMPOSSIBLE_DATE, f"{field} is not a valid date: {value!r}")


def parse_instant(value: object, field: str) -> datetime:
    """A FHIR ``dateTime``/``instant`` (or CSV timestamp) as a UTC-aware datetime.

    A bare date means midnight UTC; a date-time without an offset is read as UTC (FHIR
    requires an offset, but exports that omit it mean UTC in practice).
    """
    if not isinstance(value, str):
        raise Reject(IMPOSSIBLE_DATE, f"{field} is not a date-time: {value!r}")
    try:
        parsed = _datetime_fromisoformat(value)  # a bare date: midnight, naive
    except ValueError:
        raise Reject(IMPOSSIBLE_DATE, f"{field} is not a valid date-time: {value!r}") from None
    tz = parsed.tzinfo
    if tz is UTC:  # "Z" and "+00:00" (most instants of an export): already UTC
        return parsed
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_datetime_fromisoformat = datetime.fromisoformat


def parse_version(value: object) -> int | None:
    """``meta.versionId`` when it is an integer (the contract ignores other version ids)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def normalise_nhs_number(value: object) -> str:
    """A validated NHS number (spaces removed), or :class:`Reject`."""
    if not isinstance(value, str):
        raise Reject(INVALID_NHS_NUMBER, f"NHS number is not a string: {value!r}")
    number = value.replace(" ", "")
    if not is_valid(number):
        raise Reject(
            INVALID_NHS_NUMBER,
            "NHS number fails the Modulus 11 check (or is not ten digits)",
        )
    return number


class Clock:
    """The load time, and the limits it sets on dates: one instance per batch."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC)
        self.latest_date = (self.now + LATEST_OFFSET).date()

    def not_future_date(self, value: date | None, field: str) -> None:
        if value is not None and value > self.latest_date:
            raise Reject(IMPOSSIBLE_DATE, f"{field} {value} is in the future")

    def not_future_instant(self, value: datetime | None, field: str) -> None:
        if value is not None and value > self.now:
            raise Reject(IMPOSSIBLE_DATE, f"{field} {value.isoformat()} is in the future")


def earliest_instant(day: date) -> datetime:
    """The first UTC instant that is ``day`` somewhere on Earth."""
    return datetime.combine(day, time(), UTC) - EARLIEST_OFFSET
