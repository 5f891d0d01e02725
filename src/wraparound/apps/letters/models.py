"""Expected letters: one per contact that needs a letter back to the GP
(``data/letters.toml``), loaded by ``wraparound app refresh`` from the warehouse
(``load.py``). ``due`` is the 2nd operational day after the contact day; the letter is met
when one arrives from the same provider for the same patient on or after the contact
(``received_at``, ``letter_id``), on time when by the end of ``due``. An overdue letter still
missing ``escalate_after_days`` operational days after ``due`` is escalated once: a task for
the practice's care co-ordinator (``task``)."""

from __future__ import annotations

from django.db import models

from wraparound.apps.care.models import Task
from wraparound.apps.records.models import Organisation, Patient


class ExpectedLetter(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="letters")
    practice = models.ForeignKey(
        Organisation, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    encounter_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=24)
    provider_id = models.CharField(max_length=20, blank=True)  # ODS code
    provider_name = models.CharField(max_length=200, blank=True)
    service = models.CharField(max_length=100, blank=True)  # specialty name or contact kind
    contact_at = models.DateTimeField()
    due = models.DateField()
    received_at = models.DateTimeField(null=True, blank=True)
    letter_id = models.CharField(max_length=64, blank=True)
    on_time = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["due", "pk"]
        indexes = [
            models.Index(fields=["practice", "due"]),
            models.Index(fields=["received_at", "due"]),
            # The letters falling due since the last app-event export (events.py), and
            # those an incremental load finds out of the look-back (load.py).
            models.Index(fields=["due"], name="letters_exp_due_idx"),
            models.Index(fields=["contact_at"], name="letters_exp_contact_at_idx"),
        ]
