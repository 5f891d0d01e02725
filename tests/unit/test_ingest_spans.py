"""The spans a large NDJSON file is read in: together they are the file, each ends at a line
end, and each knows the number of its first line (error positions depend on it)."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from wraparound.sources.ingest_stage import _spans

lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(lines=lines, span_bytes=st.integers(1, 64), final_newline=st.booleans())
def test_spans_cover_the_file_at_line_ends_with_their_first_line_numbers(
    tmp_path_factory, lines, span_bytes, final_newline
):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp_path_factory.mktemp("spans") / "big.ndjson"
    path.write_bytes(data)
    tasks = list(_spans(path, 3, len(data), span_bytes))
    assert b"".join(data[t.span[0] : t.span[1]] for t in tasks) == data
    for before, after in itertools.pairwise(tasks):
        assert before.span[1] == after.span[0]
        assert data[before.span[1] - 1 : before.span[1]] == b"\n"
    for t in tasks:
        start, end, first_line = t.span
        assert first_line == data[:start].count(b"\n") + 1
        assert t.size == end - start and t.file_no == 3
