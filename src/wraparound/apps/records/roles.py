"""Roles and what each may do, as data rather than scattered ``if role == ...`` checks.

A role says what kind of access a person has; a relationship with the patient (see
``relationships.py``: its kind, source, start and end, and the actions it allows, from
``data/relationships.toml``) says what they may do for this patient. Direct-care roles can open
identifiable records of patients they have a legitimate relationship with, and can break
the glass (with a reason, audited) in an emergency. Clinical roles (GP, practice staff, which
includes practice nurses, community nurse, pharmacist) may also record reviews and
assessments (long-term condition review, frailty assessment, annual health check).
Commissioners see pseudonymised and aggregate data only. Administrators manage accounts;
the auditor (Caldicott guardian) searches the audit trail. Neither opens patient records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    direct_care: bool = False  # may open identifiable records (with a relationship)
    practice_list: bool = False  # registration with the user's practice is a relationship
    register_pool: bool = False  # the register of the user's scope is their caseload pool
    pseudonymised: bool = False  # sees pseudonymised worklists and aggregates
    audit: bool = False  # may search the audit trail
    manage_users: bool = False
    mdt_member: bool = False
    records_reviews: bool = False  # may record clinical reviews and assessments
    can_book: bool = False  # may book hub appointments (with a relationship allowing it)
    can_overbook: bool = False  # may book a slot already taken (audited; access app)


ROLES: dict[str, Role] = {
    r.code: r
    for r in (
        Role(
            "gp",
            "GP",
            direct_care=True,
            practice_list=True,
            register_pool=True,
            records_reviews=True,
            can_book=True,
        ),
        Role(
            "practice_staff",
            "Practice staff",
            direct_care=True,
            practice_list=True,
            register_pool=True,
            records_reviews=True,
            can_book=True,
        ),
        Role(
            "coordinator",
            "Care co-ordinator",
            direct_care=True,
            register_pool=True,
            mdt_member=True,
            can_book=True,
        ),
        Role(
            "community_nurse",
            "Community nurse",
            direct_care=True,
            mdt_member=True,
            records_reviews=True,
        ),
        Role("social_worker", "Social worker", direct_care=True, mdt_member=True),
        Role("pharmacist", "Pharmacist", direct_care=True, mdt_member=True, records_reviews=True),
        Role("mental_health", "Mental-health worker", direct_care=True, mdt_member=True),
        Role("link_worker", "Voluntary-sector link worker", direct_care=True, mdt_member=True),
        Role("hub_clinician", "Hub clinician", direct_care=True, can_book=True),
        # Hub reception and rota staff: book for any patient of the hub's neighbourhood
        # and may overbook (audited), read only what a booking allows.
        Role("hub_staff", "Hub staff", direct_care=True, can_book=True, can_overbook=True),
        Role("commissioner", "Commissioner / analyst", pseudonymised=True),
        Role("admin", "Administrator", manage_users=True),
        Role("auditor", "Auditor (Caldicott guardian)", audit=True),
    )
}

ROLE_CHOICES = [(r.code, r.label) for r in ROLES.values()]
SCOPE_CHOICES = [
    ("practice", "Practice"),
    ("neighbourhood", "Neighbourhood"),
    ("locality", "Locality"),
]
