"""Who may see which scorecard pages. Aggregate pages only (no patient record), so there is
no per-patient audit row, but the role and scope checks are as strict as anywhere else:

- GP and practice staff: their own practice, including the clinician breakdown;
- care co-ordinators: the practices of their neighbourhood (no clinician rows);
- commissioners / analysts: every practice, outliers, inequalities and outcomes;
- everyone else signed in: refused; anyone at all: the public pages (published figures).
"""

from __future__ import annotations

from django.shortcuts import render

from wraparound.vocabulary import CLINICIAN_ROLES, SCORECARD_ROLES


def can_view(user) -> bool:
    return user.is_authenticated and user.role in SCORECARD_ROLES


def commissioning(user) -> bool:
    """Locality-wide pages: outliers, inequalities and outcomes."""
    return can_view(user) and user.role_info.pseudonymised


def in_scope(user, ods: str) -> bool:
    return can_view(user) and user.practices().filter(pk=ods).exists()


def sees_clinicians(user, ods: str) -> bool:
    """Clinician rows are for the practice's own people, never for anyone else."""
    return (
        user.is_authenticated
        and user.role in CLINICIAN_ROLES
        and user.scope == "practice"
        and user.scope_org_id == ods
    )


def refuse(request, what: str):
    return render(request, "scorecard/refused.html", {"what": what}, status=403)
