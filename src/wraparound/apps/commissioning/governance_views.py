"""The decisions log and the register of interests: commissioners only, every entry and
every refusal audited."""

from __future__ import annotations

from django.shortcuts import redirect, render

from wraparound.apps.commissioning import access
from wraparound.apps.commissioning.governance import DecisionForm, InterestForm, save_decision
from wraparound.apps.commissioning.models import Decision, Interest
from wraparound.apps.records import audit


def decisions(request):
    if not access.commissioner(request.user):
        return access.refuse(request, "the decisions log")
    rows = Decision.objects.order_by("-decided_on", "-pk").prefetch_related("attendance__member")
    return render(request, "commissioning/decisions.html", {"decisions": rows})


def record_decision(request):
    if not access.commissioner(request.user):
        return access.refuse(request, "the decisions log")
    form = DecisionForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            save_decision(request, form.cleaned_data)
            return redirect("commissioning_decisions")
        audit.record(
            request, action="denied", what="decision refused by the form", outcome="denied"
        )
        return render(request, "commissioning/decision_form.html", {"form": form}, status=400)
    return render(request, "commissioning/decision_form.html", {"form": form})


def interests(request):
    if not access.commissioner(request.user):
        return access.refuse(request, "the register of interests")
    form = InterestForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            interest = form.save()
            audit.record(
                request,
                action="write",
                what=f"interest {interest.pk} of {interest.member.name} on {interest.kind}",
            )
            return redirect("commissioning_interests")
        return render(
            request,
            "commissioning/interests.html",
            {"form": form, "interests": Interest.objects.select_related("member")},
            status=400,
        )
    rows = Interest.objects.select_related("member").order_by("member__name", "-declared_on")
    return render(request, "commissioning/interests.html", {"form": form, "interests": rows})
