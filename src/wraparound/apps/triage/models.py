"""Requests to the practice's triage queue (self-referrals and online consultations) and what
staff did with each."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from wraparound.apps.records.models import Organisation, Patient

URGENCY_CHOICES = [("emergency", "Emergency"), ("urgent", "Urgent"), ("routine", "Routine")]
URGENCY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}
KIND_CHOICES = [("self_referral", "Self-referral"), ("online_consultation", "Online consultation")]
MATCH_CHOICES = [
    ("matched", "Matched to one registered patient"),
    ("ambiguous", "More than one possible patient"),
    ("unmatched", "No registered patient found"),
    ("resolved", "Matched by staff"),
    ("known", "Signed-in patient"),
]
STATUS_CHOICES = [
    ("open", "Open"),
    ("answered", "Answered"),
    ("booked", "Booked"),
    ("referred", "Referred"),
    ("closed", "Closed"),
]
ACTION_CHOICES = [
    ("answer", "Answered"),
    ("book", "Booked"),
    ("refer", "Referred"),
    ("close", "Closed"),
    ("resolve", "Matched to a patient"),
]
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    return "WR-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


class TriageRequest(models.Model):
    """One request: what the person asked (``answers``, minimal identifying details in
    ``identity`` until a patient is attached), the red flags that fired and the urgency, the
    practice whose queue it is on, and where it stands."""

    reference = models.CharField(max_length=16, unique=True, default=new_reference)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    form = models.CharField(max_length=40)  # the form id in data/self_referral/
    form_version = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=10, default="clinical")  # clinical | admin
    source = models.CharField(max_length=20)  # public_form | portal
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="triage_requests"
    )
    match = models.CharField(max_length=10, choices=MATCH_CHOICES)
    practice = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    identity = models.JSONField(default=dict)  # what the person gave: name, DOB, contact
    answers = models.JSONField(default=dict)
    red_flags = models.JSONField(default=list)  # ids of the rules that fired
    urgency = models.CharField(max_length=10, choices=URGENCY_CHOICES)
    urgency_rank = models.PositiveSmallIntegerField(default=2)  # 0 emergency, 1 urgent, 2
    advice = models.CharField(max_length=20)  # the advice.toml table shown
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="open")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["urgency_rank", "received_at", "id"]
        indexes = [models.Index(fields=["practice", "status", "urgency_rank", "received_at"])]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_kind_display()}, {self.urgency})"

    def save(self, *args, **kwargs):
        self.urgency_rank = URGENCY_ORDER.get(self.urgency, 2)
        super().save(*args, **kwargs)


class TriageAction(models.Model):
    """One thing staff did to a request (each is audited too)."""

    request = models.ForeignKey(TriageRequest, on_delete=models.CASCADE, related_name="actions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=ACTION_CHOICES)
    note = models.TextField(blank=True)
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
