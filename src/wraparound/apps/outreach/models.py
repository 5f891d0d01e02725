"""Outreach: a cohort built into a call list, and what was done for each patient on it.

- :class:`CohortBuild`: one build of one cohort (``wraparound app outreach build``), with the
  cohort's version, the build date, how many the warehouse query found, how many were left
  out and why, and the seconds each step took.
- :class:`CallListEntry`: a patient on that list, with the practice and the state of the
  outreach (``to_contact``, then ``messaged`` or ``contacted``, ending ``booked``,
  ``declined`` or ``no_answer``).
- :class:`ContactAttempt`: each contact, who made it (or the batch), how (message, phone,
  letter, in person), the message's status where one was sent, and the response.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from wraparound.apps.records.models import Organisation, Patient

STATES = [
    ("to_contact", "To contact"),
    ("messaged", "Message sent"),
    ("undeliverable", "Message could not be sent"),
    ("booked", "Booked"),
    ("declined", "Declined"),
    ("no_answer", "No answer"),
]
METHODS = [
    ("message", "Message (batch)"),
    ("phone", "Phone call"),
    ("letter", "Letter"),
    ("in_person", "In person"),
]
OUTCOMES = [
    ("sent", "Message sent"),
    ("undeliverable", "Message could not be sent"),
    ("booked", "Booked"),
    ("declined", "Declined"),
    ("no_answer", "No answer"),
]


class CohortBuild(models.Model):
    cohort_id = models.CharField(max_length=64, db_index=True)
    cohort_version = models.PositiveIntegerField()
    built_at = models.DateTimeField(auto_now_add=True)
    as_of = models.DateField()
    warehouse_snapshot = models.CharField(max_length=100, blank=True)
    found = models.PositiveIntegerField(default=0)  # by the warehouse query
    size = models.PositiveIntegerField(default=0)  # on the call list
    left_out = models.JSONField(default=dict)  # reason -> count
    seconds = models.JSONField(default=dict)  # step -> seconds
    current = models.BooleanField(default=True)

    class Meta:
        ordering = ["-built_at", "-pk"]


class CallListEntry(models.Model):
    build = models.ForeignKey(CohortBuild, on_delete=models.CASCADE, related_name="entries")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    practice = models.ForeignKey(
        Organisation, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    neighbourhood = models.ForeignKey(
        Organisation, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=STATES, default="to_contact")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["build", "patient"], name="outreach_once_per_build")
        ]
        indexes = [models.Index(fields=["build", "state", "practice"])]


class ContactAttempt(models.Model):
    entry = models.ForeignKey(CallListEntry, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    method = models.CharField(max_length=12, choices=METHODS)
    channel = models.CharField(max_length=10, blank=True)  # sms | email | letter (messages)
    outcome = models.CharField(max_length=16, choices=OUTCOMES)
    message_id = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "pk"]
