"""A patient's contact details and preferences, and every message sent (or not) to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from wraparound.apps.records.models import Patient

CHANNEL_CHOICES = [("sms", "Text message"), ("email", "Email"), ("letter", "Letter")]
STATUS_CHOICES = [
    ("sent", "Sent"),
    ("undeliverable", "Not sent"),
    ("failed", "Failed"),
]


class ContactPreference(models.Model):
    """How to reach one patient and how they want to be reached: contact details (from the
    identity feed, ``contacts.sync_from_identity``, or recorded by staff), the preferred
    channel, channels refused, and reasonable adjustments (the Accessible Information
    Standard's: large print, easy read, an interpreter's language)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="contact")
    phone = models.CharField(max_length=20, blank=True)
    email = models.CharField(max_length=254, blank=True)
    address = models.TextField(blank=True)  # lines separated by newlines, postcode apart
    postcode = models.CharField(max_length=10, blank=True)
    preferred_channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES, blank=True)
    no_sms = models.BooleanField(default=False)
    no_email = models.BooleanField(default=False)
    large_print = models.BooleanField(default=False)
    easy_read = models.BooleanField(default=False)
    interpreter_language = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=20, default="identity")  # identity | staff | patient
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["postcode"])]

    def adjustments(self) -> list[str]:
        out = []
        if self.large_print:
            out.append("large print")
        if self.easy_read:
            out.append("easy read")
        if self.interpreter_language:
            out.append(f"interpreter: {self.interpreter_language}")
        return out


class Message(models.Model):
    """One message to a patient, recorded whatever happened: sent (through which backend, with
    the provider's id), or undeliverable with the reason (no contact detail, the patient
    refused the channel, the purpose not allowed for an opted-out patient)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="messages")
    template = models.CharField(max_length=60)
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES, blank=True)
    purpose = models.CharField(max_length=40)
    status = models.CharField(max_length=15, choices=STATUS_CHOICES)
    reason = models.CharField(max_length=300, blank=True)
    to = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    personalisation = models.JSONField(default=dict)
    adjustments = models.JSONField(default=list)
    backend = models.CharField(max_length=20, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=64, blank=True)  # the caller's, e.g. a triage ref
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self) -> str:
        return f"{self.template} to {self.patient} by {self.channel or '-'}: {self.status}"
