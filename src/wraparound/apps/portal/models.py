"""The portal's own records: patients' sessions, proxy access, what patients added to their
care plan, and what a practice hides online item by item."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from wraparound.apps.records.models import Patient


class PortalSession(models.Model):
    """A signed-in portal session, apart from staff sessions: its own cookie
    (``wraparound_portal``) holds a random key of which only the SHA-256 is stored. Who signed
    in (NHS login's ``sub`` and NHS number, the proofing level), whose record they act on now
    (themselves, or a patient they are a proxy for), and when it ends (idle time, set by
    ``WRAPAROUND_PORTAL_SESSION_MINUTES``)."""

    key_digest = models.CharField(max_length=64, unique=True)
    sub = models.CharField(max_length=200)
    nhs_number = models.CharField(max_length=10)
    level = models.CharField(max_length=2)
    vot = models.CharField(max_length=40, blank=True)
    name = models.CharField(max_length=200, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, on_delete=models.CASCADE, related_name="+"
    )  # the signed-in person's own record, when they are in the index
    acting_for = models.ForeignKey(Patient, null=True, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)


class Proxy(models.Model):
    """Proxy access to a patient's portal record: a carer or parent (known by their own NHS
    login NHS number) with scopes (``data/portal/proxy.toml``), a start, an expiry and a
    reason. Invited by the patient (accepted when the carer signs in with the invitation's
    code) or granted by the practice after its checks. Revoked by either; never deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="proxies")
    proxy_nhs_number = models.CharField(max_length=10, blank=True)  # set when accepted
    proxy_name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100)  # "daughter", "parent", "carer"
    scopes = models.JSONField(default=list)
    start = models.DateField()
    expiry = models.DateField()
    reason = models.CharField(max_length=300)
    source = models.CharField(
        max_length=10, choices=[("patient", "Invited by the patient"), ("practice", "Practice")]
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checks = models.CharField(max_length=300, blank=True)  # the practice's identity checks
    invite_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["proxy_nhs_number"]), models.Index(fields=["patient"])]


class PlanContribution(models.Model):
    """Something a patient (or their proxy) added to their care plan: to "what matters to
    me", or a comment on a goal. Append-only, numbered per patient (the version), so every
    change is kept; the co-ordinator marks them seen."""

    KINDS = [("what_matters", "What matters to me"), ("goal_comment", "Comment on a goal")]
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=KINDS)
    plan_version = models.PositiveIntegerField(null=True)  # the care plan version shown
    goal = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    by_name = models.CharField(max_length=200)
    by_proxy = models.ForeignKey(Proxy, null=True, blank=True, on_delete=models.PROTECT)
    at = models.DateTimeField(auto_now_add=True)
    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["patient", "number"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "number"], name="portal_contribution_once")
        ]


class HiddenItem(models.Model):
    """One item a practice chose not to show online (a result, a medicine, a condition)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=20)
    item = models.CharField(max_length=200)  # the item's label as the record shows it
    reason = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)


class ReminderSent(models.Model):
    """One appointment reminder decided (``data/portal/reminders.toml``'s ``code``): the
    row is made before the message, under a unique constraint, so two runs of
    ``wraparound app messages send-due`` never both send it; ``message`` is what messaging
    recorded (sent, or not sent and why). A reminder whose backend failed is deleted again,
    to be retried by the next run."""

    appointment = models.ForeignKey(
        "access.Appointment", on_delete=models.CASCADE, related_name="+"
    )
    code = models.CharField(max_length=40)
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "code"], name="portal_reminder_once")
        ]
