"""The indicator library loads, and a definition outside the language fails loudly, naming the
file and what is wrong."""

from __future__ import annotations

import pytest

from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.definition import DefinitionError, parse

GOOD = """
id = "x"
version = 1
title = "T"
description = "D"
why_it_matters = "W"
type = "proportion"
direction = "higher"
multiplier = 100
tags = ["clinical"]
author = "A"
review_date = 2027-01-01
source = "warehouse"

[denominator]
registers = ["diabetes"]

[numerator]
where = [{ latest_observation = "hba1c", within_months = 12, at_most = 58 }]
"""


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_the_library_has_at_least_20_indicators_across_the_four_areas():
    library = definition.load()
    assert len(library) >= 20
    tags = {t for i in library for t in i.tags}
    assert {"clinical", "coordination", "access", "use"} <= tags
    assert {i.type for i in library} == {"proportion", "crude_rate", "dsr", "median", "ratio"}
    assert {i.direction for i in library} == {"higher", "lower", "both"}
    dsr = [i for i in library if i.type == "dsr"]
    assert dsr and all(i.standard_population == "esp2013" for i in dsr)
    assert all(i.source == "app" for i in library if "app_events" in i.requires)


def test_a_good_definition_parses():
    indicator = parse(GOOD, "data/indicators/x.toml")
    assert indicator.denominator.registers == ("diabetes",)
    assert indicator.numerator.where[0].param("value") == 58.0
    assert indicator.requires == ()
    assert len(indicator.sha256) == 64


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'latest_observation = "hba1c", within_months = 12, at_most = 58',
            'newest_reading = "hba1c", within_months = 12, at_most = 58',
            "unknown operator 'newest_reading'",
        ),
        ('registers = ["diabetes"]', 'registers = ["diabetic"]', "denominator.registers is"),
        ("at_most = 58", "at_most = 58, at_least = 20", "exactly one of at_most"),
        ("within_months = 12, ", "", "needs within_months"),
        ('type = "proportion"', 'type = "ratio_of"', "type is 'ratio_of'"),
        ('direction = "higher"', 'direction = "up"', "direction is 'up'"),
        ('id = "x"', 'id = "y"', "must match the file name"),
        ('source = "warehouse"', 'source = "app"', "source must be 'app' exactly when"),
        ('tags = ["clinical"]', 'tags = ["clinical"]\ncolour = "red"', "unknown key 'colour'"),
        ("review_date = 2027-01-01", 'review_date = "soon"', "review_date must be a TOML date"),
        ("[denominator]", "[denominator]\nperson_time = true", "apply only to a denominator"),
        (
            "{ latest_observation",
            '{ status = ["dna"] }, { latest_observation',
            "operator 'status' cannot be used here",
        ),
    ],
)
def test_bad_definitions_fail_naming_the_file(old, new, message):
    with pytest.raises(DefinitionError, match=message) as err:
        parse(_edit(old, new), "data/indicators/x.toml")
    assert str(err.value).startswith("data/indicators/x.toml: ")


def test_missing_key_and_bad_toml():
    with pytest.raises(DefinitionError, match="missing required key 'author'"):
        parse(_edit('author = "A"\n', ""), "data/indicators/x.toml")
    with pytest.raises(DefinitionError, match="not valid TOML"):
        parse("id = ", "data/indicators/x.toml")


def test_rate_rules():
    rate = (
        _edit('type = "proportion"', 'type = "crude_rate"')
        .replace('registers = ["diabetes"]', "person_time = true\nmin_age = 66")
        .replace(
            'where = [{ latest_observation = "hba1c", within_months = 12, at_most = 58 }]',
            'events = { kind = "ae_attendance", status = ["attended"] }',
        )
    )
    with pytest.raises(DefinitionError, match="5-year bands"):
        parse(rate, "data/indicators/x.toml")
    assert parse(rate.replace("min_age = 66", "min_age = 65"), "x.toml").type == "crude_rate"
    with pytest.raises(DefinitionError, match="standard_population"):
        parse(rate.replace('type = "crude_rate"', 'type = "dsr"'), "x.toml")


def test_load_reads_a_directory(tmp_path):
    (tmp_path / "x.toml").write_text(GOOD)
    assert [i.id for i in definition.load(tmp_path)] == ["x"]
    (tmp_path / "x.toml").write_text(_edit("at_most = 58", 'at_most = "58"'))
    with pytest.raises(DefinitionError, match=r"data/indicators/x\.toml: .*must be a number"):
        definition.load(tmp_path)


def test_urgent_request_events():
    events = GOOD.replace('registers = ["diabetes"]', "{}").replace(
        'where = [{ latest_observation = "hba1c", within_months = 12, at_most = 58 }]',
        "where = [{ booking_lead_days_at_most = 2 }]",
    )
    good = events.replace(
        "{}",
        'events = { kind = "gp_appointment", status = ["attended", "dna"], urgent_request = true }',
    )
    assert parse(good, "x.toml").denominator.events.urgent_request is True
    routine = good.replace("urgent_request = true", "urgent_request = false")
    assert parse(routine, "x.toml").denominator.events.urgent_request is False
    assert parse(good.replace(", urgent_request = true", ""), "x.toml").denominator.events == (
        definition.Events("gp_appointment", ("attended", "dna"), None)
    )
    with pytest.raises(DefinitionError, match="urgent_request must be true or false"):
        parse(good.replace("urgent_request = true", 'urgent_request = "yes"'), "x.toml")
    with pytest.raises(DefinitionError, match="recorded only for kind = 'gp_appointment'"):
        parse(good.replace('"gp_appointment"', '"outpatient"'), "x.toml")
