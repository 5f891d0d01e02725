"""The staff side of the portal, on the patient's page: what the patient added to their care
plan (the co-ordinator marks it seen), proxy access (the practice grants after its checks,
or revokes), and items hidden from the portal. Through records' gate like every patient
view."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.utils import timezone

from wraparound.apps.portal import proxies, rules
from wraparound.apps.portal.models import HiddenItem, PlanContribution, Proxy
from wraparound.apps.records import access

CATEGORIES = ("conditions", "medicines", "results", "allergies")


def _needs(request):
    return access.READ if request.method != "POST" else "care_plan.write"


@access.patient_view("portal: patient's contributions and proxy access", writes=True, needs=_needs)
def portal_admin(request, patient):
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "seen":
            PlanContribution.objects.filter(patient=patient, seen_at__isnull=True).update(
                seen_by=request.user, seen_at=timezone.now()
            )
            return redirect("portal_admin", pk=patient.pk)
        if action == "grant":
            try:
                proxies.grant(
                    request.user,
                    patient,
                    request.POST,
                    (request.POST.get("nhs_number") or "").replace(" ", ""),
                    request.POST.get("checks") or "",
                )
                return redirect("portal_admin", pk=patient.pk)
            except proxies.ProxyError as exc:
                error = str(exc)
        elif action == "revoke":
            try:
                proxies.revoke(
                    patient,
                    int(request.POST.get("proxy", "")),
                    by=f"the practice ({request.user.username})",
                )
                return redirect("portal_admin", pk=patient.pk)
            except (ValueError, Proxy.DoesNotExist):
                error = "No such proxy access."
        elif action == "hide":
            category = request.POST.get("category", "")
            item = (request.POST.get("item") or "").strip()[:200]
            if category not in CATEGORIES or not item:
                error = "Choose a category and name the item to hide."
            else:
                HiddenItem.objects.create(
                    patient=patient,
                    category=category,
                    item=item,
                    reason=(request.POST.get("reason") or "")[:200],
                    by=request.user,
                )
                return redirect("portal_admin", pk=patient.pk)
        else:
            error = "Choose what to do."
    return render(
        request,
        "portal/staff.html",
        {
            "patient": patient,
            "contributions": PlanContribution.objects.filter(patient=patient).order_by("-number"),
            "unseen": PlanContribution.objects.filter(
                patient=patient, seen_at__isnull=True
            ).count(),
            "proxies": Proxy.objects.filter(patient=patient).order_by("-created_at"),
            "hidden": HiddenItem.objects.filter(patient=patient).order_by("-at"),
            "scopes": list(rules.proxy_rules()["scopes"].items()),
            "categories": CATEGORIES,
            "child": proxies.child_policy(patient),
            "error": error,
        },
        status=400 if error else 200,
    )
