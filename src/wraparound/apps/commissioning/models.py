"""Commissioning: the local QOF run copied into the app (``load.py``), the action lists of
the practices (patients resolved from pseudonyms in the app, for direct care), and the
governance of decisions: the register of interests and the decisions log
(``governance.py`` holds the rule that a conflicted member cannot approve)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from wraparound.apps.records.models import Organisation, Patient, User


class LocalQofRun(models.Model):
    """One published local QOF run (``results/local_qof/<run_id>/``)."""

    run_id = models.CharField(max_length=40, unique=True)
    scheme_id = models.CharField(max_length=60)
    scheme_version = models.PositiveIntegerField()
    scheme_year = models.CharField(max_length=7)
    scheme_title = models.CharField(max_length=200)
    scheme_sha256 = models.CharField(max_length=64)
    period_first = models.PositiveIntegerField()  # month index (year * 12 + month - 1)
    period_last = models.PositiveIntegerField()
    final = models.BooleanField(default=False)
    manifest = models.JSONField(default=dict)
    current = models.BooleanField(default=False)
    loaded_at = models.DateTimeField(auto_now_add=True)

    @classmethod
    def latest(cls) -> LocalQofRun | None:
        return cls.objects.filter(current=True).first()


class LocalQofValue(models.Model):
    """One practice, scheme line and month: the columns of ``monthly.parquet``; the latest
    month's rows carry the projection (``year.parquet``) and are the claims."""

    run = models.ForeignKey(LocalQofRun, on_delete=models.CASCADE, related_name="values")
    practice_id = models.CharField(max_length=40)
    code = models.CharField(max_length=20)
    indicator_id = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    period = models.PositiveIntegerField()
    numerator = models.FloatField()
    denominator = models.FloatField()
    exceptions = models.FloatField()
    achievement = models.FloatField(null=True)
    lower = models.FloatField()
    upper = models.FloatField()
    max_points = models.FloatField()
    points = models.FloatField()
    list_size = models.FloatField()
    cpi = models.FloatField()
    prevalence = models.FloatField(null=True)
    apf = models.FloatField()
    pounds_per_point = models.FloatField()
    payment = models.FloatField()
    patients_to_upper = models.IntegerField()
    latest = models.BooleanField(default=False)
    final = models.BooleanField(default=False)
    projected_achievement = models.FloatField(null=True)
    projected_points = models.FloatField(null=True)
    projected_payment = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "practice_id", "code", "period"])]


class ActionItem(models.Model):
    """A patient who would still count this year for a line: direct care for the practice
    (shown by name to the practice's own staff only, audited)."""

    run = models.ForeignKey(LocalQofRun, on_delete=models.CASCADE, related_name="actions")
    practice = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["run", "practice", "code"])]


class SupportAssignment(models.Model):
    """A practice the support and development hub works with: a commissioner-role user with
    assignments sees only these practices in the early warning."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    practice = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "practice"], name="one_assignment"),
        ]


# Governance ----------------------------------------------------------------------------------

DECISION_KINDS = [
    ("scheme", "Local QOF scheme"),
    ("threshold", "Threshold"),
    ("budget", "Budget"),
    ("intervention", "Intervention"),
]
MEMBER_KINDS = [
    ("gp", "GP member of the commissioning group"),
    ("lay", "Lay member"),
    ("officer", "Commissioning officer"),
]


class Member(models.Model):
    """Someone who takes part in decisions."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=MEMBER_KINDS)
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.SET_NULL)
    practice = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Interest(models.Model):
    """A declared interest: on a kind of decision and a subject (a scheme id, a practice's
    ODS code, a budget line, an intervention), or on every subject of the kind (blank)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="interests")
    kind = models.CharField(max_length=12, choices=DECISION_KINDS)
    subject = models.CharField(max_length=60, blank=True)
    description = models.CharField(max_length=300)
    declared_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)

    def applies(self, kind: str, subject: str, on) -> bool:
        return (
            self.kind == kind
            and (not self.subject or self.subject == subject)
            and self.declared_on <= on
            and (self.ended_on is None or self.ended_on >= on)
        )


class Decision(models.Model):
    kind = models.CharField(max_length=12, choices=DECISION_KINDS)
    subject = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    decided_on = models.DateField()
    outcome = models.CharField(
        max_length=10,
        choices=[("approved", "Approved"), ("rejected", "Rejected"), ("deferred", "Deferred")],
    )
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    def conflicted(self) -> set[int]:
        """Members with a declared interest on this decision: registered, or declared at the
        meeting."""
        ids = {
            i.member_id
            for i in Interest.objects.filter(kind=self.kind)
            if i.applies(self.kind, self.subject, self.decided_on)
        }
        ids |= set(self.attendance.filter(declared=True).values_list("member_id", flat=True))
        return ids


class Attendance(models.Model):
    """Who was at the decision, whether they declared an interest, whether they were
    excluded from it, and whether they approved it."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="attendance")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    declared = models.BooleanField(default=False)
    declaration = models.CharField(max_length=300, blank=True)
    excluded = models.BooleanField(default=False)
    approved = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "member"], name="one_attendance"),
        ]

    def clean(self) -> None:
        if not self.approved:
            return
        if self.decision.outcome != "approved":
            raise ValidationError("Only an approved decision has approvers.")
        conflicted = self.declared or any(
            i.applies(self.decision.kind, self.decision.subject, self.decision.decided_on)
            for i in Interest.objects.filter(member_id=self.member_id)
        )
        if conflicted or self.excluded:
            raise ValidationError(
                f"{self.member.name} has a declared interest in this decision and cannot "
                "approve it."
            )

    def save(self, *args, **kwargs):
        self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)
