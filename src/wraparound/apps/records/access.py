"""Who may open which patient's record, and the one gate every patient view goes through.

A direct-care role needs a legitimate relationship with the patient, checked in this order
(the first that holds is recorded in the audit row as the *basis*):

``registered``  the patient is registered with a practice in the user's scope and the role
                works the practice list (GP, practice staff);
``caseload``    the user is the patient's named GP, care co-ordinator or a care-team member;
``register``    the patient is on the current risk register within the user's scope and the
                role works the register (GP, practice staff, care co-ordinator);
``mdt``         the patient is on the agenda of an MDT meeting the user is a member of;
``referral``    the patient is referred or booked to the user's service (hub, community team);
``break_glass`` the user broke the glass for this patient, with a reason, in the last hour.

Anything else is refused, and the refusal is audited. Roles without direct care
(commissioner, administrator, auditor) never open identifiable records, glass or not.
"""

from __future__ import annotations

import functools

from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from wraparound.apps.records import audit
from wraparound.apps.records.models import BreakGlass, Patient, Referral

BREAK_GLASS_MINUTES = 60


def relationship(user, patient: Patient) -> str | None:
    """The basis on which ``user`` may open ``patient``'s record, or None."""
    from wraparound.apps.care.models import AgendaItem, CareTeamMember
    from wraparound.apps.registers.models import RegisterEntry

    role = user.role_info
    if not role.direct_care:
        return None
    in_scope = user.practices().filter(pk=patient.practice_id).exists()
    if role.practice_list and in_scope:
        return "registered"
    if CareTeamMember.objects.filter(patient=patient, user=user, active=True).exists():
        return "caseload"
    if role.register_pool and in_scope and RegisterEntry.current().filter(patient=patient).exists():
        return "register"
    if AgendaItem.objects.filter(patient=patient, meeting__members=user).exists():
        return "mdt"
    if (
        user.service_id
        and Referral.objects.filter(patient=patient, service_id=user.service_id).exists()
    ):
        return "referral"
    if BreakGlass.objects.filter(
        user=user, patient=patient, expires_at__gt=timezone.now()
    ).exists():
        return "break_glass"
    return None


def patient_view(
    what: str, action: str = "read", writes: bool = False, permission: str | None = None
):
    """Decorate a view taking ``(request, patient, ...)`` and a ``pk`` URL argument.

    Loads the patient, checks the relationship, and audits the request: refused (with a 403
    page offering break-glass to direct-care roles) or allowed (``read``/``export``/``print``
    for GET, ``write`` for POST to a view that ``writes``), with the basis of the
    relationship. Any other method is refused with 405, and audited too. ``permission`` names
    a :class:`~wraparound.apps.records.roles.Role` flag the user's role must also have (e.g.
    ``records_reviews``); a role without it is refused with 403 whatever the relationship,
    and no break-glass is offered (the glass grants a relationship, never a role).
    """
    methods = ("GET", "HEAD", "POST") if writes else ("GET", "HEAD")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, pk, *args, **kwargs):
            patient = get_object_or_404(Patient, pk=pk)
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
            basis = relationship(request.user, patient)
            if basis is None:
                audit.record(request, patient=patient, action="denied", what=what, outcome="denied")
                return render(
                    request,
                    "records/refused.html",
                    {
                        "patient_pk": patient.pk,
                        "can_break_glass": request.user.role_info.direct_care,
                    },
                    status=403,
                )
            request.access_basis = basis
            reason = ""
            if basis == "break_glass":
                grant = BreakGlass.objects.filter(user=request.user, patient=patient).last()
                reason = grant.reason if grant else ""
            try:
                return view(request, patient, *args, **kwargs)
            finally:  # audited even when the view fails part-way (a 404 on a bad form value)
                audit.record(
                    request,
                    patient=patient,
                    what=what,
                    basis=basis,
                    reason=reason,
                    action="write" if request.method == "POST" else action,
                )

        wrapper.patient_view = True
        return wrapper

    return decorate
