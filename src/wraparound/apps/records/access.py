"""The one gate every patient-record view goes through.

Whether a user may do something to a patient's record is one question, asked of the one
relationship model (``relationships.py``): does the user hold a relationship with the patient
that allows the *action* (``read``, ``care_plan.write``, ``case.status``,
``care_team.manage``, ``mdt.add``, ``mdt.outcome``, ``review.record``, ...)? The kinds
(``registered``, ``caseload``, ``register``, ``mdt``, ``referral``, ``booking``,
``break_glass``) and what each allows are data (``data/relationships.toml``); the apps that
hold the records of each kind register providers for it. The first relationship, in the
policy's order, that allows the action is recorded in the audit row as the *basis*.

Anything else is refused with a 403 page, and the refusal is audited: no relationship at
all (break-glass offered to direct-care roles for reading), or a relationship that does not
allow the action (a booking allows reading, not writing a care plan; break-glass allows
reading, never an action that creates or extends a relationship). Roles without direct care
(commissioner, administrator, auditor) hold no relationship, glass or not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render

from wraparound.apps.records import audit, relationships
from wraparound.apps.records.break_glass import rules as glass_rules
from wraparound.apps.records.models import BreakGlass, Patient

READ = "read"


def relationship(user, patient: Patient, action: str = READ) -> str | None:
    """The basis (relationship kind) on which ``user`` may do ``action`` to ``patient``'s
    record, or None."""
    rel = relationships.first_allowing(user, patient, action)
    return rel.kind if rel else None


def glass_form_context(**extra) -> dict:
    """What the break-glass form on the refusal page needs: the reasons and the minutes."""
    r = glass_rules()
    return {"glass_reasons": list(r.reasons.items()), "glass_minutes": r.minutes, **extra}


def _refuse(request, patient, what, action, look: relationships.Look):
    held, lapsed = look.standing()
    lapsed = [] if held else lapsed
    can_glass = (
        not held
        and request.user.role_info.direct_care
        and relationships.policy().allows(relationships.BREAK_GLASS, action)
    )
    if held:
        kinds = ", ".join(dict.fromkeys(r.kind for r in held))
        detail = f"{what}: {action} not allowed under {kinds}"
    else:
        detail = f"{what}: no relationship" if action != READ else what
        if lapsed:  # tried after a relationship ended (or before it starts): say which
            detail += " (" + ", ".join(dict.fromkeys(f"{r.kind} {s}" for r, s in lapsed)) + ")"
    audit.record(
        request,
        patient=patient,
        action="denied",
        what=detail,
        outcome="denied",
        basis=held[0].kind if held else "",
    )
    return render(
        request,
        "records/refused.html",
        {
            "patient_pk": patient.pk,
            "can_break_glass": can_glass,
            "held": list({r.kind: r for r in held}.values()),
            "refused_action": relationships.policy().actions.get(action, action),
            "glass_only_reads": not held and action != READ,
            "lapsed": lapsed,
            **glass_form_context(),
        },
        status=403,
    )


def patient_view(
    what: str,
    action: str = "read",
    writes: bool = False,
    permission: str | None = None,
    needs: str | tuple[str, ...] | Callable[[object], str | tuple[str, ...]] = READ,
):
    """Decorate a view taking ``(request, patient, ...)`` and a ``pk`` URL argument.

    Loads the patient, checks the role (``permission``: a
    :class:`~wraparound.apps.records.roles.Role` flag such as ``records_reviews``; refused
    whatever the relationship, and no break-glass offered: the glass grants a relationship,
    never a role), then the relationship: one that allows ``needs`` (an action or several,
    or a function of the request returning them, for a view whose POST does different
    things); the first action's relationship is the basis. Audits the
    request once: refused, or allowed (``action`` for GET, ``write`` for POST to a view that
    ``writes``) with the basis. Any other method is refused with 405, and audited too.
    """
    methods = ("GET", "HEAD", "POST") if writes else ("GET", "HEAD")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, pk, *args, **kwargs):
            # The practice and neighbourhood come with the patient: the relationship check
            # and most pages name them.
            patient = get_object_or_404(
                Patient.objects.select_related("practice", "neighbourhood"), pk=pk
            )
            if request.method not in methods:
                audit.record(
                    request,
                    patient=patient,
                    action="denied",
                    outcome="denied",
                    what=f"{what}: {request.method} not allowed",
                )
                return HttpResponseNotAllowed(methods)
            if permission and not getattr(request.user.role_info, permission):
                audit.record(
                    request,
                    patient=patient,
                    action="denied",
                    what=f"{what}: not permitted for the role",
                    outcome="denied",
                )
                return render(
                    request,
                    "records/refused.html",
                    {
                        "patient_pk": patient.pk,
                        "role_refused": request.user.role_info.label,
                        "refused_what": what,
                    },
                    status=403,
                )
            needed = needs(request) if callable(needs) else needs
            rel = None
            look = relationships.Look(request.user, patient)
            for one in (needed,) if isinstance(needed, str) else needed:
                found = look.first_allowing(one)
                if found is None:
                    return _refuse(request, patient, what, one, look)
                rel = rel or found
            request.access_basis = rel.kind
            request.access_relationship = rel
            reason = ""
            if rel.kind == relationships.BREAK_GLASS:
                grant = BreakGlass.objects.filter(user=request.user, patient=patient).last()
                reason = grant.reason if grant else ""
            try:
                return view(request, patient, *args, **kwargs)
            finally:  # audited even when the view fails part-way (a 404 on a bad form value)
                audit.record(
                    request,
                    patient=patient,
                    what=what,
                    basis=rel.kind,
                    reason=reason,
                    action="write" if request.method == "POST" else action,
                )

        wrapper.patient_view = True
        wrapper.needs = needs
        return wrapper

    return decorate


def record_grant(request, patient, kind: str, to: str, source: str, basis: str = "") -> None:
    """Audit a relationship granted (``to`` names who holds it): one row, the basis being the
    actor's own relationship with the patient."""
    audit.record(
        request,
        patient=patient,
        action="grant",
        what=f"relationship {kind} granted to {to}: {source}",
        basis=basis or getattr(request, "access_basis", ""),
    )


def record_end(request, patient, kind: str, to: str, source: str, basis: str = "") -> None:
    """Audit a relationship ended, as :func:`record_grant`."""
    audit.record(
        request,
        patient=patient,
        action="end",
        what=f"relationship {kind} ended for {to}: {source}",
        basis=basis or getattr(request, "access_basis", ""),
    )
