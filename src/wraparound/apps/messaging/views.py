"""The staff outbox: messages to the patients of the user's practices, and those the user
sent. Direct-care roles only; a page that names patients is audited once."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render

from wraparound.apps.messaging.models import STATUS_CHOICES, Message
from wraparound.apps.records import audit

PAGE_SIZE = 50


def visible_messages(user):
    """Messages this user may see: their practices' patients' (practice-list roles), and
    the ones they sent themselves."""
    mine = Q(sender=user)
    if user.role_info.practice_list:
        mine |= Q(patient__practice__in=user.practices())
    return Message.objects.filter(mine)


def outbox(request):
    role = request.user.role_info
    if not role.direct_care:
        audit.record(request, action="denied", what="messages outbox", outcome="denied")
        return render(request, "messaging/refused.html", status=403)
    status = request.GET.get("status", "")
    if status not in {s for s, _ in STATUS_CHOICES}:
        status = ""
    messages = visible_messages(request.user).select_related("patient", "sender")
    if status:
        messages = messages.filter(status=status)
    page = Paginator(messages, PAGE_SIZE).get_page(request.GET.get("page"))
    if page.object_list:
        audit.record(
            request, action="read", what=f"messages outbox ({len(page.object_list)} messages)"
        )
    return render(
        request,
        "messaging/outbox.html",
        {"page": page, "status": status, "statuses": STATUS_CHOICES},
    )
