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

from wraparound.vocabulary import MDT_CHAIR_ROLES, MDT_ROLES, ROLES, SCOPE_LABELS, Role

# The roles and their flags are part of the vocabulary (wraparound/vocabulary.py): the access
# app, the care app's MDT pages and the demo read the same table.
__all__ = ["MDT_CHAIR_ROLES", "MDT_ROLES", "ROLES", "ROLE_CHOICES", "SCOPE_CHOICES", "Role"]

ROLE_CHOICES = [(r.code, r.label) for r in ROLES.values()]
SCOPE_CHOICES = list(SCOPE_LABELS.items())
