"""What the care team records: care teams and case status (with history), contacts copied
from the warehouse for the timeline, care plans (versioned), MDT meetings, tasks, alerts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from wraparound.apps.records.models import Organisation, Patient
from wraparound.vocabulary import ENCOUNTER_KIND_LABELS

STATUSES = [
    ("identified", "Identified"),
    ("contacted", "Contacted"),
    ("care_plan_agreed", "Care plan agreed"),
    ("declined", "Declined"),
    ("closed", "Closed"),
]
TEAM_ROLES = [
    ("named_gp", "Named GP"),
    ("coordinator", "Care co-ordinator"),
    ("member", "Care team member"),
]


class CaseRecord(models.Model):
    """The current state of a patient's case: status, named GP and co-ordinator. Every change
    also writes a :class:`CaseEvent`, which is the history."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="case")
    status = models.CharField(max_length=20, choices=STATUSES, default="identified")
    named_gp = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)


class CaseEvent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="case_events")
    field = models.CharField(max_length=20)  # status | named_gp | coordinator | member
    value = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]


class CareTeamMember(models.Model):
    """A member of the patient's care team; the patient is on this user's caseload."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="caseload"
    )
    team_role = models.CharField(max_length=20, choices=TEAM_ROLES)
    active = models.BooleanField(default=True)
    since = models.DateTimeField(auto_now_add=True)
    # The source of the relationship: who added them, on what basis (their own relationship
    # with the patient, or "demo"/"system"), and when it ended.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_basis = models.CharField(max_length=20, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "active"]),
            models.Index(fields=["patient", "active"]),
        ]


CONTACT_KINDS = list(ENCOUNTER_KIND_LABELS.items())  # the warehouse's encounter kinds


class Contact(models.Model):
    """One encounter from the warehouse, copied for the patient timeline."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contacts")
    encounter_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=24, choices=CONTACT_KINDS)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True)
    status = models.CharField(max_length=12)
    org_name = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "-start"])]


class CarePlan(models.Model):
    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="care_plan")
    created_at = models.DateTimeField(auto_now_add=True)
    review_date = models.DateField(null=True, db_index=True)  # the latest version's, for filters

    def latest(self) -> CarePlanVersion | None:
        return self.versions.order_by("-number").first()


def default_review_date() -> dt.date:
    return dt.date.today() + dt.timedelta(days=182)


class CarePlanVersion(models.Model):
    """One immutable version of a care plan: every edit writes a new one."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    what_matters = models.TextField()
    goals = models.TextField()
    actions = models.JSONField(default=list)  # [{"what", "owner_id", "owner", "due"}]
    escalation = models.TextField(blank=True)
    contingency = models.TextField(blank=True)
    out_of_hours = models.CharField(max_length=200, blank=True)
    review_date = models.DateField(default=default_review_date)
    ltc_review_date = models.DateField(null=True, blank=True)
    agreed = models.BooleanField(default=False)
    agreed_on = models.DateField(null=True, blank=True)
    agreed_how = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("plan", "number")]
        ordering = ["-number"]


class MdtMeeting(models.Model):
    team = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="mdt_meetings")
    attended = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date"]


AGENDA_REASONS = [
    ("new_high_needs", "New high-needs patient"),
    ("admission", "Recent admission"),
    ("ae", "Recent A&E attendance"),
    ("review_due", "Review due"),
    ("raised", "Raised by a member"),
]


class AgendaItem(models.Model):
    """A patient on an MDT agenda and, once discussed, the outcome in the one format."""

    meeting = models.ForeignKey(MdtMeeting, on_delete=models.CASCADE, related_name="items")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="agenda_items")
    reason = models.CharField(max_length=20, choices=AGENDA_REASONS)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # The basis ``raised_by`` had with the patient when the item was added (never
    # break_glass: the gate refuses that), and when: the source of the MDT relationship.
    raised_basis = models.CharField(max_length=20, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    summary = models.TextField(blank=True)
    decisions = models.TextField(blank=True)
    discussed_at = models.DateTimeField(null=True)

    class Meta:
        unique_together = [("meeting", "patient")]


class Task(models.Model):
    # No assignee: the task waits in the patient's practice queue until someone is named.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    patient = models.ForeignKey(Patient, null=True, on_delete=models.CASCADE, related_name="tasks")
    what = models.CharField(max_length=300)
    due = models.DateField()
    source = models.CharField(max_length=20)  # mdt | discharge | care_plan
    agenda_item = models.ForeignKey(
        AgendaItem, null=True, on_delete=models.CASCADE, related_name="tasks"
    )
    alert = models.ForeignKey("Alert", null=True, on_delete=models.CASCADE, related_name="+")
    done_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due", "id"]
        indexes = [models.Index(fields=["assignee", "done_at", "due"])]


ALERT_KINDS = [
    ("ae_attendance", "A&E attendance"),
    ("emergency_admission", "Emergency admission"),
    ("discharge", "Discharge"),
]


class Alert(models.Model):
    """A hospital event for a patient on a register or caseload, created once per encounter
    and kind however often the data are reloaded."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="alerts")
    encounter_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=ALERT_KINDS)
    occurred_at = models.DateTimeField()
    batch = models.PositiveIntegerField()
    org_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    seen_by = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["encounter_id", "kind"], name="one_alert_per_encounter_kind"
            )
        ]
        ordering = ["-occurred_at"]


# The reviews and assessments a clinician records on the patient page; each code is also the
# app event kind the indicators count (``analytics/indicators/definition.APP_EVENT_KINDS``).
REVIEW_KINDS = [
    ("ltc_review", "Long-term condition annual review"),
    ("frailty_assessment", "Frailty assessment"),
    ("annual_health_check", "Learning disability annual health check"),
]


class ClinicalReview(models.Model):
    """A review or assessment done with the patient, recorded by a clinical role
    (``Role.records_reviews``) on the date it took place. Exported to the warehouse as an app
    event (``care/app_events.py``) for the coordination and clinical indicators."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="reviews")
    kind = models.CharField(max_length=24, choices=REVIEW_KINDS)
    date = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["patient", "-date"])]
