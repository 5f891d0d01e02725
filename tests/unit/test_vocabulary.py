"""One vocabulary (wraparound/vocabulary.py): the modules that publish, check and load the
eFI categories, streams, encounter kinds, run kinds, column sets and roles use its names,
and no module spells one of those lists out again."""

from __future__ import annotations

import re
from pathlib import Path

from wraparound import vocabulary
from wraparound.analytics import frailty, registers, streams
from wraparound.analytics.indicators import compute, definition, inputs, levels
from wraparound.apps.scorecard import access as scorecard_access
from wraparound.warehouse import paths, schema

SRC = Path(vocabulary.__file__).parent


def test_the_analytics_use_the_vocabularys_names():
    assert tuple(name for name, _ in frailty.CATEGORIES) == vocabulary.EFI_CATEGORIES
    assert streams.EFI_CATEGORIES == definition.EFI_CATEGORIES == vocabulary.EFI_CATEGORIES
    assert definition.RISK_STREAMS == vocabulary.STREAMS
    assert tuple(s.id for s in streams.load_rules().streams) == vocabulary.STREAMS
    assert schema.ENCOUNTER_KINDS == vocabulary.ENCOUNTER_KINDS
    assert definition.ENCOUNTER_KINDS == vocabulary.INDICATOR_ENCOUNTER_KINDS
    assert (
        "social_care" in schema.ENCOUNTER_KINDS and "social_care" not in definition.ENCOUNTER_KINDS
    )
    assert (paths.RISK, paths.INDICATORS) == vocabulary.RUN_KINDS == ("risk", "indicators")
    assert list(vocabulary.REGISTER_COLUMNS) == registers.COLUMNS
    assert list(vocabulary.INDICATOR_OUTPUT_COLUMNS) == levels.OUTPUT_COLUMNS
    assert list(vocabulary.INDICATOR_VALUES) == compute.VALUE_COLUMNS
    assert list(vocabulary.RISK_INPUT_COLUMNS) == inputs.RISK_COLUMNS
    assert set(vocabulary.RISK_INPUT_COLUMNS) <= set(vocabulary.SCORE_COLUMNS)


def test_the_mdt_roles_are_the_roles_flagged_so():
    assert vocabulary.MDT_ROLES == (
        "coordinator",
        "community_nurse",
        "social_worker",
        "pharmacist",
        "mental_health",
        "link_worker",
    )
    assert vocabulary.MDT_CHAIR_ROLES == ("gp", "coordinator")
    assert set(vocabulary.MDT_ROLES) <= set(vocabulary.ROLES)


def test_the_page_access_role_sets_are_the_roles_flagged_so():
    # The sets the scorecard and access pages check, as they were before they became flags.
    assert vocabulary.SCORECARD_ROLES == ("gp", "practice_staff", "coordinator", "commissioner")
    assert vocabulary.CLINICIAN_ROLES == ("gp", "practice_staff")
    assert vocabulary.DASHBOARD_ROLES == (
        "gp",
        "practice_staff",
        "coordinator",
        "hub_clinician",
        "hub_staff",
        "commissioner",
    )
    assert vocabulary.NO_DIRECT_CARE_ROLES == ("commissioner", "admin", "auditor")
    assert scorecard_access.SCORECARD_ROLES is vocabulary.SCORECARD_ROLES
    assert scorecard_access.CLINICIAN_ROLES is vocabulary.CLINICIAN_ROLES


def test_no_module_spells_a_role_set_again():
    # A role set is a flag on the roles: no module lists three or more role codes itself.
    codes = "|".join(vocabulary.ROLES)
    listed = re.compile(rf'"(?:{codes})",\s*"(?:{codes})",\s*"(?:{codes})"')
    found = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "vocabulary.py"
        and "migrations" not in path.parts
        and listed.search(path.read_text())
    ]
    assert found == []


# Lists that once were spelled in several modules: each may now appear only in the vocabulary.
SPELLED_ONCE = {
    "eFI categories": r'"fit",\s*"mild",\s*"moderate",\s*"severe"',
    "streams": r'"high_needs",\s*"intermediate",\s*"less_complex"',
    "encounter kinds": r'"gp_appointment",\s*"ae_attendance",\s*"emergency_admission"',
    "MDT roles": r'"community_nurse",\s*"social_worker",\s*"pharmacist"',
    "funnel limits": r'"funnel_lower95",\s*"funnel_upper95",\s*"funnel_lower998"',
    "register columns": r'"unit_id",\s*"patient_id",\s*"unit_rank"',
    "score columns": r'"percentile",\s*"stream",\s*"efi",\s*"efi_category"',
    "confidence limits": r'"value",\s*"lower95",\s*"upper95",\s*"lower998"',
}


def test_no_module_spells_a_vocabulary_list_again():
    found = {}
    for path in SRC.rglob("*.py"):
        if path.name == "vocabulary.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        for what, pattern in SPELLED_ONCE.items():
            if re.search(pattern, text):
                found.setdefault(what, []).append(str(path.relative_to(SRC)))
    assert found == {}
