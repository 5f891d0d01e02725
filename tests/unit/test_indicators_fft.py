"""The Friends and Family Test as an indicator (``fft_share_positive``): a denominator of
anonymous responses (``denominator.responses``), not patients, on a hand-built warehouse and
the feedback app's export (``DIR/app_feedback/fft_responses.parquet``), on every engine.

Locality W, neighbourhood N, practices P1 and P2; responses in March 2025:

- P1: 18 very good, 6 good, 2 neither, 1 poor, 1 very poor, 2 don't know: 24 positive of 30
  (don't know is a response: NHS England's percentage positive, data/feedback/fft.toml);
- P2: 3 good, 2 poor: 3 of 5, small counts (1 to 7), suppressed in the public table;
- N and W: 27 of 35.

Wilson 95% for 24/30, on paper: centre (24 + 1.92)/(30 + 3.84) = 0.7659, half-width
1.96 x sqrt(24 x 6 / 30 + 0.96) / 33.84 = 0.1390: 62.7% to 90.5%.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import write_tables
from scipy.stats import norm

from wraparound.analytics.indicators import definition, inputs
from wraparound.analytics.indicators.definition import DefinitionError, parse
from wraparound.analytics.indicators.inputs import FEEDBACK_SCHEMA, app_feedback_path
from wraparound.analytics.indicators.run import run

INDICATOR = "fft_share_positive"
MARCH = dt.date(2025, 3, 1)
P1 = {"very_good": 18, "good": 6, "neither": 2, "poor": 1, "very_poor": 1, "dont_know": 2}
P2 = {"good": 3, "poor": 2}


def _responses(practice, answers):
    return [
        {
            "month": MARCH,
            "practice_id": practice,
            "hub_id": "H1",
            "service_code": "H1",
            "touchpoint": "hub_appointment",
            "answer": answer,
        }
        for answer, n in answers.items()
        for _ in range(n)
    ]


def _community(pid, day):
    start = dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=dt.UTC)
    return {
        "patient_id": pid,
        "kind": "community",
        "start": start,
        "end": start,
        "status": "attended",
    }


@pytest.fixture(scope="module")
def fft_run(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"fft_{engine.name}") / "warehouse"
    return _build_and_run(engine, root)


def _build_and_run(engine, root):
    people = [("r1", "P1"), ("r2", "P2")]
    write_tables(
        root,
        {
            "organisations": [
                {"org_id": "W", "kind": "locality"},
                {"org_id": "N", "kind": "neighbourhood", "parent_id": "W"},
                {"org_id": "P1", "kind": "practice", "parent_id": "N"},
                {"org_id": "P2", "kind": "practice", "parent_id": "N"},
                {"org_id": "H1", "kind": "hub", "parent_id": "N"},
            ],
            "areas": [{"lsoa": "A", "imd_decile": 3}],
            "patients": [
                {
                    "patient_id": p,
                    "birth_date": dt.date(1960, 1, 1),
                    "sex": "female",
                    "lsoa": "A",
                    "opted_out": False,
                }
                for p, _ in people
            ],
            "registrations": [
                {"patient_id": p, "practice_id": practice, "start_date": dt.date(2000, 1, 1)}
                for p, practice in people
            ],
            # The data run from April 2024 to March 2025.
            "encounters": [_community("r1", "2024-04-01"), _community("r1", "2025-03-31")],
        },
    )
    path = app_feedback_path(root)
    path.parent.mkdir(parents=True)
    rows = _responses("P1", P1) + _responses("P2", P2)
    pq.write_table(pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA), path)
    library = tuple(i for i in definition.load() if i.id == INDICATOR)
    with engine.selected():
        manifest = run(root, out=root / "out", library=library)
    return manifest, root / "out" / manifest["run_id"]


def _row(table, org, level="practice"):
    rows = table.filter(
        (pl.col("indicator_id") == INDICATOR)
        & (pl.col("period") == "2025-03")
        & (pl.col("org_id") == org)
        & (pl.col("level") == level)
    )
    assert rows.height == 1, (org, level, rows)
    return rows.row(0, named=True)


def _wilson(x, n, z):
    centre = x + z * z / 2
    half = z * (x * (n - x) / n + z * z / 4) ** 0.5
    return 100 * (centre - half) / (n + z * z), 100 * (centre + half) / (n + z * z)


def test_share_positive_over_responses_with_wilson(fft_run):
    manifest, d = fft_run
    status = {x["id"]: x["status"] for x in manifest["definitions"]}
    assert status[INDICATOR] == "computed"
    assert manifest["inputs"]["app_feedback"]["rows"] == 35
    values = pl.read_parquet(d / "indicator_values.parquet")
    p1 = _row(values, "P1")
    assert (p1["numerator"], p1["denominator"]) == (24, 30)
    assert p1["value"] == pytest.approx(80.0)
    lower, upper = _wilson(24, 30, norm.ppf(0.975))
    assert p1["lower95"] == pytest.approx(lower, rel=1e-9)
    assert p1["upper95"] == pytest.approx(upper, rel=1e-9)
    assert p1["lower95"] == pytest.approx(62.69, abs=0.01)  # on paper (module docstring)
    assert p1["upper95"] == pytest.approx(90.50, abs=0.01)
    p2 = _row(values, "P2")
    assert (p2["numerator"], p2["denominator"], p2["value"]) == (3, 5, 60.0)
    for level, org in (("neighbourhood", "N"), ("locality", "W")):
        row = _row(values, org, level)
        assert (row["numerator"], row["denominator"]) == (27, 35)
        assert row["value"] == pytest.approx(100 * 27 / 35)
    # Anonymous responses have no deprivation quintile: no inequalities rows.
    inequalities = pl.read_parquet(d / "inequalities.parquet")
    assert inequalities.filter(pl.col("indicator_id") == INDICATOR).height == 0


def test_small_cells_are_suppressed_in_the_public_table(fft_run):
    _, d = fft_run
    public = pl.read_parquet(d / "public" / "indicator_values.parquet")
    p2 = _row(public, "P2")
    assert p2["numerator"] is None and p2["denominator"] is None and p2["value"] is None
    # The others are rounded to 5 and their value and interval recomputed from the rounded
    # counts (P1's true 80% would be a clue); N - P1 = 35 - 30 leaves P2's count anywhere
    # from 1 to 7 once rounding is allowed for, so rule 4 need not hide a second row.
    p1 = _row(public, "P1")
    assert (p1["numerator"], p1["denominator"]) == (25, 30)
    assert p1["value"] == pytest.approx(100 * 25 / 30)
    lower, upper = _wilson(25, 30, norm.ppf(0.975))
    assert p1["lower95"] == pytest.approx(lower, rel=1e-9)
    assert p1["upper95"] == pytest.approx(upper, rel=1e-9)
    for r in (_row(public, "N", "neighbourhood"), _row(public, "W", "locality")):
        assert (r["numerator"], r["denominator"]) == (25, 35)


def test_a_new_response_recomputes_its_month_and_an_unchanged_export_reuses_it(engine, tmp_path):
    """The responses are an input of the incremental run (``reuse.py``): the same export
    reuses every month; one more response recomputes that month, and the value moves."""
    root = tmp_path / "warehouse"
    _build_and_run(engine, root)
    library = tuple(i for i in definition.load() if i.id == INDICATOR)
    with engine.selected():
        same = run(root, out=root / "out", library=library)
    assert same["months_computed"][INDICATOR] == 0
    path = app_feedback_path(root)
    more = pq.read_table(path).to_pylist() + _responses("P1", {"good": 1})
    pq.write_table(pa.Table.from_pylist(more, schema=FEEDBACK_SCHEMA), path)
    with engine.selected():
        again = run(root, out=root / "out", library=library)
    assert again["months_computed"][INDICATOR] == 1
    values = pl.read_parquet(root / "out" / again["run_id"] / "indicator_values.parquet")
    p1 = _row(values, "P1")
    assert (p1["numerator"], p1["denominator"]) == (25, 31)


def test_without_the_export_it_awaits_data(tmp_path):
    """``run`` marks an indicator awaiting data when an input it requires was not found; an
    empty export (an app with no responses yet) is not found either."""
    [indicator] = [i for i in definition.load() if i.id == INDICATOR]
    assert indicator.requires == ("app_feedback",) and indicator.source == "app"
    assert inputs.read(tmp_path).app_feedback is None
    path = app_feedback_path(tmp_path)
    path.parent.mkdir(parents=True)
    pq.write_table(FEEDBACK_SCHEMA.empty_table(), path)
    found = inputs.read(tmp_path)
    assert found.app_feedback is None and found.described["app_feedback"]["rows"] == 0
    pq.write_table(pa.table({"month": [MARCH]}), path)
    with pytest.raises(inputs.InputError, match="FFT responses need columns"):
        inputs.read(tmp_path)


FILE = open(definition.package_dir().joinpath(f"{INDICATOR}.toml")).read()  # noqa: SIM115


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('survey = "fft"', 'survey = "gp_survey"', "survey"),
        ('"dont_know"] }', '"no_idea"] }', "answers"),
        ('answer = ["very_good", "good"]', 'answer = ["excellent"]', "answer"),
        ("where = [{ answer", 'where = [{ status = ["attended"], answer', "only operator"),
        ("[denominator]\n", "[denominator]\nmin_age = 18\n", "anonymous answers"),
        ('type = "proportion"', 'type = "ratio"', "ratio"),
    ],
)
def test_a_malformed_responses_definition_is_refused(old, new, message):
    assert old in FILE
    with pytest.raises(DefinitionError, match=message):
        parse(FILE.replace(old, new), f"{INDICATOR}.toml")
