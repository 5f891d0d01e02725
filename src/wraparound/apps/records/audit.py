"""Writing the audit trail. Every patient-record view goes through ``access.patient_view``,
which calls :func:`record` once per request, whether access was allowed or refused."""

from __future__ import annotations

from wraparound.apps.records.models import AuditEvent

ACTIONS = (
    "read",
    "write",
    "export",
    "print",
    "denied",
    "break_glass",
    "login",
    "login_failed",
    "login_locked",
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
    return AuditEvent.objects.create(
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
