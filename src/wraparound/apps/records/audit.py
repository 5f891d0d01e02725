"""Writing the audit trail. Every patient-record view goes through ``access.patient_view``,
which calls :func:`record` once per request, whether access was allowed or refused; every
other page that shows identifiable patients (home, register, caseload, tasks, alerts, MDT
pages, the audit search itself) calls it once too, and so do relationship grants and ends.
The row's time and its place in the hash chain are set when it is saved (``chain.py``)."""

from __future__ import annotations

from wraparound.apps.records import chain
from wraparound.apps.records.models import AuditEvent

ACTIONS = (
    "read",
    "write",
    "export",
    "print",
    "denied",
    "break_glass",
    "review",  # the auditor's sign-off of a break-glass event
    "grant",  # a relationship granted (care team place, MDT agenda)
    "end",  # a relationship ended
    "login",
    "login_failed",
    "login_locked",
    "audit_search",
)


def record(
    request,
    *,
    patient=None,
    action: str,
    what: str,
    outcome: str = "allowed",
    basis: str = "",
    reason: str = "",
    user=None,
) -> AuditEvent:
    user = user if user is not None else getattr(request, "user", None)
    known = user is not None and user.is_authenticated
    event = AuditEvent(
        user=user if known else None,
        username=user.username if known else request.POST.get("username", "")[:150],
        role=user.role if known else "",
        patient=patient,
        action=action,
        what=what[:200],
        basis=basis,
        outcome=outcome,
        reason=reason,
        method=request.method or "",
        path=request.get_full_path()[:300],
    )
    chain.append(event)  # the chain's lock, time and hash, and one prepared INSERT
    return event
