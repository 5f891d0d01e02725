"""Who may see which commissioning pages (aggregate pages: no patient record, so one audit
row per page view of patient-level content only, the action list):

- commissioners / analysts (pseudonymised roles with scorecards): the locality pages, every
  practice's local QOF page, the claims, budget, early warning (all practices, or only the
  practices of their support assignments: ``SupportAssignment``), decisions and interests;
- practice staff and GPs (and co-ordinators) in scope: their practices' local QOF pages;
- the action list (patients by name): the practice's own GPs and staff only (the practice
  list is their relationship with those patients), audited;
- everyone else: refused (403).
"""

from __future__ import annotations

from django.shortcuts import render

from wraparound.apps.records import audit
from wraparound.vocabulary import SCORECARD_ROLES


def commissioner(user) -> bool:
    return user.is_authenticated and user.role in SCORECARD_ROLES and user.role_info.pseudonymised


def sees_practice(user, ods: str) -> bool:
    if commissioner(user):
        return True
    return (
        user.is_authenticated
        and user.role in SCORECARD_ROLES
        and user.practices().filter(pk=ods).exists()
    )


def sees_action_list(user, ods: str) -> bool:
    """Patient names are direct care: the practice's own people only."""
    return (
        user.is_authenticated
        and user.role_info.direct_care
        and user.role_info.practice_list
        and user.scope == "practice"
        and user.scope_org_id == ods
    )


def refuse(request, what: str):
    audit.record(request, action="denied", what=what[:200], outcome="denied")
    return render(request, "commissioning/refused.html", {"what": what}, status=403)
