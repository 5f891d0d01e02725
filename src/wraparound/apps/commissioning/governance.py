"""The decisions log and the register of interests (Trafford and BaNES governance).

A decision on a scheme, a threshold, a budget or an intervention records who was present,
who declared an interest, who was excluded and who approved it. Nobody with a declared
interest in it (in the register, on the decision's kind and subject, on its date, or declared
at the meeting) and nobody excluded may be recorded as approving it: the form refuses it
(``DecisionForm.clean``) and so does the model (``Attendance.clean``, run on every save), so
no code path can store it. Every entry is audited (``records.audit``)."""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.db import transaction

from wraparound.apps.commissioning.models import (
    DECISION_KINDS,
    Attendance,
    Decision,
    Interest,
    Member,
)
from wraparound.apps.records import audit


def conflicted_members(kind: str, subject: str, on) -> set[int]:
    return {i.member_id for i in Interest.objects.filter(kind=kind) if i.applies(kind, subject, on)}


class _NhsFields:
    """NHS.UK frontend classes on the form's inputs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            css = {forms.Textarea: "nhsuk-textarea", forms.Select: "nhsuk-select"}.get(
                type(widget), "nhsuk-input"
            )
            widget.attrs["class"] = css


class DecisionForm(_NhsFields, forms.Form):
    kind = forms.ChoiceField(choices=DECISION_KINDS, label="What the decision is about")
    subject = forms.CharField(
        max_length=60,
        label="Subject",
        help_text="The scheme id, practice, budget line or intervention",
    )
    title = forms.CharField(max_length=200, label="Decision")
    detail = forms.CharField(widget=forms.Textarea, required=False, label="Detail")
    decided_on = forms.DateField(label="Date of the decision", help_text="For example, 2026-03-15")
    outcome = forms.ChoiceField(
        choices=[("approved", "Approved"), ("rejected", "Rejected"), ("deferred", "Deferred")]
    )
    present = forms.ModelMultipleChoiceField(
        queryset=Member.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        label="Present",
    )
    declared = forms.ModelMultipleChoiceField(
        queryset=Member.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Declared an interest at the meeting",
    )
    excluded = forms.ModelMultipleChoiceField(
        queryset=Member.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Excluded from the decision",
    )
    approvers = forms.ModelMultipleChoiceField(
        queryset=Member.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Approved by",
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        present = set(data["present"])
        for key in ("declared", "excluded", "approvers"):
            absent = set(data[key]) - present
            if absent:
                self.add_error(key, f"{', '.join(m.name for m in absent)} not recorded as present.")
        approvers = set(data["approvers"])
        if data["outcome"] == "approved" and not approvers:
            self.add_error("approvers", "An approved decision needs at least one approver.")
        if data["outcome"] != "approved" and approvers:
            self.add_error("approvers", "Only an approved decision has approvers.")
        registered = conflicted_members(data["kind"], data["subject"], data["decided_on"])
        conflicted = {m for m in approvers if m.pk in registered or m in set(data["declared"])}
        conflicted |= approvers & set(data["excluded"])
        if conflicted:
            self.add_error(
                "approvers",
                f"{', '.join(sorted(m.name for m in conflicted))}: a declared interest in this "
                "decision (or excluded from it), so cannot approve it.",
            )
        return data


def save_decision(request, data: dict) -> Decision:
    """Store a checked decision and its attendance in one transaction, audited."""
    with transaction.atomic():
        decision = Decision.objects.create(
            kind=data["kind"],
            subject=data["subject"],
            title=data["title"],
            detail=data.get("detail", ""),
            decided_on=data["decided_on"],
            outcome=data["outcome"],
            recorded_by=request.user,
        )
        declared, excluded, approvers = (
            set(data[k]) for k in ("declared", "excluded", "approvers")
        )
        for member in data["present"]:
            Attendance.objects.create(
                decision=decision,
                member=member,
                declared=member in declared,
                excluded=member in excluded,
                approved=member in approvers,
            )
        audit.record(
            request,
            action="write",
            what=f"decision {decision.pk} ({decision.kind} {decision.subject}): {decision.outcome}",
        )
    return decision


class InterestForm(_NhsFields, forms.ModelForm):
    class Meta:
        model = Interest
        fields = ("member", "kind", "subject", "description", "declared_on", "ended_on")
        labels: ClassVar[dict[str, str]] = {
            "kind": "On decisions about",
            "subject": "Subject (blank: every subject of that kind)",
            "declared_on": "Declared on",
            "ended_on": "Ended on (if it has)",
        }
