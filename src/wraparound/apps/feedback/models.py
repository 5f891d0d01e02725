"""Friends and Family Test offers and responses.

An :class:`Offer` is one patient's one-time link (``/feedback/<token>``) for one touchpoint
(a hub appointment seen, a referral seen, a discharge, a care-plan review). A
:class:`Response` is what came back through it, stored **without** any link to the patient
or the offer: only the touchpoint, service, practice, hub and month are kept, and the offer
keeps only a ``used`` flag (no time), so a response cannot be traced back to a patient from
the database. Responses have random (UUID) keys, so their order says nothing about which
offer was used when.
"""

from __future__ import annotations

import uuid

from django.db import models

from wraparound.apps.feedback.content import ANSWER_CODES
from wraparound.apps.records.models import Organisation, Patient

ANSWER_CHOICES = [(c, c) for c in ANSWER_CODES]


class Offer(models.Model):
    """A one-time, expiring feedback link offered to a patient after a touchpoint."""

    token = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="fft_offers")
    touchpoint = models.CharField(max_length=30)
    source_key = models.CharField(max_length=100)  # what it follows, e.g. "appointment:12"
    service_code = models.CharField(max_length=80)  # the service's ODS code, or "name:..."
    service_name = models.CharField(max_length=200)
    service_org = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    practice = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hub = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)
    message_sent = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["touchpoint", "source_key"], name="feedback_one_offer_per_touch"
            )
        ]
        indexes = [models.Index(fields=["patient", "used"])]

    @property
    def url(self) -> str:
        return f"/feedback/{self.token}"

    @property
    def touchpoint_label(self) -> str:
        from wraparound.apps.feedback.content import fft

        tp = fft().touchpoints.get(self.touchpoint)
        return tp.label if tp else self.touchpoint


class Response(models.Model):
    """One FFT answer, anonymous: tagged with touchpoint, service, practice, hub and month,
    never with the patient or the offer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    touchpoint = models.CharField(max_length=30)
    service_code = models.CharField(max_length=80)
    service_name = models.CharField(max_length=200)
    service_org = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    practice = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hub = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    month = models.DateField()  # the first day of the month it was given
    answer = models.CharField(max_length=12, choices=ANSWER_CHOICES)
    free_text = models.JSONField(default=dict, blank=True)  # {question code: text}
    fft_version = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["month", "practice"]),
            models.Index(fields=["service_code", "month"]),
        ]
