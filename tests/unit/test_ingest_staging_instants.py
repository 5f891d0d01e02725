"""Instants go to staging as numbers, not through PyArrow's slow tz-aware conversion: every
microsecond must come back as it went in, across the whole range a datetime can hold, with
any offset, in runs of one object or not."""

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from wraparound.sources.ingest_stage import _array

KIND = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
recent = st.datetimes(datetime(1900, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))
anywhen = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=offsets)
one = st.one_of(st.none(), recent, anywhen)
# Runs of the very same object, as an export's one meta.lastUpdated gives every row: each run
# is converted once, and a run must never carry its value past its end.
values = st.lists(st.tuples(one, st.integers(1, 4)), max_size=25).map(
    lambda runs: [value for value, times in runs for _ in range(times)]
)


@settings(max_examples=300, deadline=None)
@given(values=values)
def test_every_instant_is_staged_to_the_exact_microsecond(values):
    exact = [None if v is None else (v - EPOCH) // timedelta(microseconds=1) for v in values]
    assert _array(values, KIND).cast(pa.int64()).to_pylist() == exact


def test_a_naive_datetime_is_left_to_pyarrow():
    naive = datetime(2024, 5, 1, 12, 0)
    assert _array([naive, None], KIND).to_pylist()[0].replace(tzinfo=None) == naive
