"""The rota editor, ``/access/hubs/<id>/rota/edit``: the hub's rota staff change its
recurring sessions and its bank-holiday opening (``rota_edit.py`` checks and saves). Shows
no patient. Every change, and every refusal, is one audit row."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import BadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.access import rota_edit
from wraparound.apps.access.models import WEEKDAYS, Hub, SessionTemplate
from wraparound.apps.access.vocabulary import HCP_ROLES, MODES, SLOT_TYPES
from wraparound.apps.records import audit
from wraparound.web.bad_request import parse_date, parse_int


def _session(hub: Hub, value) -> SessionTemplate | None:
    if value in (None, "", "new"):
        return None
    pk = parse_int(value, "session")
    return get_object_or_404(SessionTemplate, pk=pk, hub=hub)


def edit_rota(request, hub_id: int):
    """The hub's sessions, a session's form (``?session=<id>`` or ``new``) and the bank-holiday
    form; POST ``action`` save, end or bank_holidays."""
    hub = get_object_or_404(Hub.objects.select_related("organisation"), pk=hub_id)
    if not rota_edit.may_edit(request.user, hub):
        audit.record(
            request, action="denied", what=f"edit the rota of {hub.name}", outcome="denied"
        )
        return render(request, "access/rota_refused.html", {"hub": hub}, status=403)
    today = timezone.localdate()
    editing = request.GET.get("session") or request.POST.get("session")
    session = _session(hub, editing)
    form = rota_edit.values_of(session) if session else _blank(hub, today)
    errors: dict[str, str] = {}
    bank = {
        "open_on_bank_holidays": hub.open_on_bank_holidays,
        "opens": (hub.bank_holiday_hours or ["", ""])[0],
        "closes": (hub.bank_holiday_hours or ["", ""])[1],
    }
    bank_errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "save":
            checked = rota_edit.check_session(hub, request.POST, session)
            form, errors = checked.values, checked.errors
            if not errors:
                saved, changed, counts = rota_edit.save_session(hub, session, checked.clean)
                audit.record(
                    request,
                    action="write",
                    what=f"rota {hub.name}: session #{saved.pk} "
                    f"{', '.join(changed) or 'unchanged'}; slots {_counts(counts)}",
                )
                return redirect(reverse("access_rota_edit", args=[hub.pk]) + f"?saved={saved.pk}")
        elif action == "end":
            if session is None:
                raise BadRequest("session is missing")
            last = parse_date(request.POST.get("last"), "last", required=True)
            if last < today - dt.timedelta(days=1):
                errors["last"] = "The last date cannot be in the past"
                form = rota_edit.values_of(session)
            else:
                counts = rota_edit.end_session(session, last)
                audit.record(
                    request,
                    action="write",
                    what=f"rota {hub.name}: session #{session.pk} ends {last:%Y-%m-%d}; "
                    f"slots {_counts(counts)}",
                )
                return redirect(reverse("access_rota_edit", args=[hub.pk]) + f"?saved={session.pk}")
        elif action == "bank_holidays":
            bank, bank_errors = rota_edit.save_bank_holidays(hub, request.POST)
            if not bank_errors:
                audit.record(
                    request,
                    action="write",
                    what=f"rota {hub.name}: bank holidays "
                    + (
                        f"open {bank['opens']}-{bank['closes']}"
                        if bank["open_on_bank_holidays"]
                        else "closed"
                    ),
                )
                return redirect(reverse("access_rota_edit", args=[hub.pk]) + "?saved=hub")
        else:
            raise BadRequest("action must be save, end or bank_holidays")
        status = 400 if (errors or bank_errors) else 200
    sessions = (
        SessionTemplate.objects.filter(hub=hub)
        .exclude(valid_to__lt=today)
        .select_related("site", "clinician")
        .order_by("weekday", "start", "pk")
    )
    return render(
        request,
        "access/rota_edit.html",
        {
            "hub": hub,
            "sessions": sessions,
            "session": session,
            "editing": editing is not None and editing != "",
            "form": form,
            "errors": errors,
            "bank": bank,
            "bank_errors": bank_errors,
            "weekdays": WEEKDAYS,
            "roles": HCP_ROLES,
            "modes": MODES,
            "types": SLOT_TYPES,
            "sites": hub.sites.order_by("name"),
            "saved": request.GET.get("saved", "")[:20],
            "today": today,
        },
        status=status,
    )


def _blank(hub: Hub, today: dt.date) -> dict:
    site = hub.sites.order_by("pk").first()
    return {
        "weekday": "",
        "start": "",
        "end": "",
        "site": str(site.pk) if site else "",
        "clinician_name": "",
        "role": "gp",
        "mode": "face_to_face",
        "slot_type": "routine",
        "slot_minutes": "15",
        "valid_from": today.isoformat(),
        "valid_to": "",
        "release_to_practices_hours": "",
        "release_to_patients_hours": "",
    }


def _counts(counts: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
