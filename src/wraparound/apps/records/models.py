"""Organisations, staff, the patient index, service relationships and the audit trail."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models.functions import Now

from wraparound.apps.records.roles import ROLE_CHOICES, ROLES, SCOPE_CHOICES


class Organisation(models.Model):
    """A locality, neighbourhood, practice, hub or trust, copied from the warehouse."""

    org_id = models.CharField(max_length=16, primary_key=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A member of staff: one role, one scope (the organisation they work across), and for
    service-based roles the service that patients are referred or booked to."""

    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    scope = models.CharField(max_length=16, choices=SCOPE_CHOICES)
    scope_org = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    @property
    def role_info(self):
        return ROLES[self.role]

    def display(self) -> str:
        return f"{self.get_full_name() or self.username} ({self.role_info.label})"

    def practices(self) -> models.QuerySet[Organisation]:
        """The practices inside the user's scope."""
        practices = Organisation.objects.filter(kind="practice")
        if self.scope == "practice":
            return practices.filter(pk=self.scope_org_id)
        if self.scope == "neighbourhood":
            return practices.filter(parent_id=self.scope_org_id)
        return practices

    def covers_practice(self, practice: Organisation | None) -> bool:
        """Whether ``practice`` is one of :meth:`practices`, judged on the organisation in
        hand: a relationship check has the patient's practice already (loaded with the
        patient), and asking the database again cost a query on every patient page."""
        if practice is None or practice.kind != "practice":
            return False
        if self.scope == "practice":
            return practice.pk == self.scope_org_id
        if self.scope == "neighbourhood":
            return practice.parent_id == self.scope_org_id
        return True


class Patient(models.Model):
    """The app's patient index: identity (from the identity feed) joined to demographics and
    current practice (from the warehouse), keyed by the warehouse pseudonym."""

    pseudonym = models.CharField(max_length=64, unique=True)
    nhs_number = models.CharField(max_length=10, unique=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField(null=True)
    sex = models.CharField(max_length=10, blank=True)
    death_date = models.DateField(null=True, blank=True)
    opted_out = models.BooleanField(default=False)
    practice = models.ForeignKey(
        Organisation, null=True, on_delete=models.PROTECT, related_name="patients"
    )
    neighbourhood = models.ForeignKey(
        Organisation, null=True, on_delete=models.PROTECT, related_name="+"
    )
    conditions = models.JSONField(default=list)  # register names, materialised on load
    # Recorded allergies, materialised on load (``load.allergy_lists``): a list of dicts, one per
    # allergy (``records/allergies.py`` reads them); ``[]`` when the practice's record carries
    # allergy data and this patient has none recorded; null when no allergy data has reached
    # the app for the patient's practice ("allergies not known", never "none recorded").
    allergies = models.JSONField(null=True, default=None)
    last_ae = models.DateTimeField(null=True, blank=True)
    last_admission = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["family_name", "given_name"]),
            # List sizes by practice and neighbourhood (access/capacity.py) from the index
            # alone, on every refresh: a seventh of a table scan's time at 1M.
            models.Index(
                fields=["practice", "neighbourhood", "death_date"], name="records_pat_lists_idx"
            ),
            # The practices whose records carry allergy data (records/load.py), likewise.
            models.Index(
                fields=["practice"],
                condition=models.Q(allergies__isnull=False),
                name="records_pat_allergy_idx",
            ),
        ]

    def __str__(self) -> str:
        return display_name(self.given_name, self.family_name)

    def nhs_number_display(self) -> str:
        return nhs_number_display(self.nhs_number)


def display_name(given: str, family: str) -> str:
    """A patient's name as every page shows it (also for rows read as values, not models)."""
    return f"{given} {family.upper()}"


def nhs_number_display(n: str) -> str:
    """An NHS number in its 3-3-4 groups, as NHS services print it."""
    return f"{n[:3]} {n[3:6]} {n[6:]}"


class Referral(models.Model):
    """A referral or booking of a patient to a service (hub, community team), from the
    warehouse: one of the legitimate relationships for direct care, dated in the data.

    It runs from ``on`` (the appointment or referral day) to ``end``, the last day it holds,
    which the load computes from the kind's window (``data/relationships.toml``) or the
    data's earlier end (the referral closed). When the load finds its source row gone
    (removed, cancelled, moved) it ends it: ``end`` becomes the day before the data's today
    and ``ended_at``/``ended_reason`` say when and why. An ended relationship is final: no
    later load reopens or extends it (``load.load_referrals``)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="referrals")
    service = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(
        max_length=10, choices=[("referral", "Referral"), ("booking", "Booking")]
    )
    on = models.DateField()
    # The last day it holds (inclusive); null: the kind's window from ``on`` (the gate
    # narrows every relationship to its window whatever is stored here).
    end = models.DateField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)  # when a load ended it early
    ended_reason = models.CharField(max_length=200, blank=True)
    source_id = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes = [models.Index(fields=["service", "patient"])]


class BreakGlass(models.Model):
    """Emergency access to a patient without a relationship: time-limited, with a reason
    from the list in ``data/break_glass_reasons.toml`` and free text, and signed off by the
    auditor in the review queue (``reviewed_*``). It allows reading only, and nothing done
    under it creates or extends another relationship (``relationships.py``)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT)
    reason_code = models.CharField(max_length=40, blank=True)
    reason = models.TextField()  # the free text
    at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_outcome = models.CharField(max_length=20, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "patient", "expires_at"])]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied("the audit trail is append-only")

    def delete(self):
        raise PermissionDenied("the audit trail is append-only")

    def bulk_create(self, *args, **kwargs):
        raise PermissionDenied("audit rows are appended one at a time, each chained")

    def update_or_create(self, *args, **kwargs):
        raise PermissionDenied("the audit trail is append-only")


class AuditEvent(models.Model):
    """One read or write of a patient's record (or a sign-in event): who, in what role, which
    patient, what, when, with what outcome, and the reason when the glass was broken.

    Append-only: the model refuses updates and deletes, and database triggers (migrations
    0002 and 0003) refuse them underneath, so not even a bug or a shell session can rewrite
    history. Tamper-evident: each row carries ``hash``, an HMAC over its content and
    ``prev_hash`` (the row before's), written by ``chain.append`` under a lock with the
    database's own time; ``wraparound audit verify`` walks the chain.
    """

    at = models.DateTimeField(db_default=Now(), db_index=True)
    user = models.ForeignKey(
        User, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=20, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    action = models.CharField(max_length=20)  # read, write, export, denied, break_glass, ...
    what = models.CharField(max_length=200)
    basis = models.CharField(max_length=20, blank=True)  # the relationship that allowed it
    outcome = models.CharField(max_length=10)  # allowed | denied
    reason = models.TextField(blank=True)
    method = models.CharField(max_length=8, blank=True)
    path = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["patient", "at"]), models.Index(fields=["user", "at"])]
        ordering = ["-at", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied("the audit trail is append-only")
        from wraparound.apps.records import chain

        chain.append(self, lambda: super(AuditEvent, self).save(*args, **kwargs))

    def delete(self, *args, **kwargs):
        raise PermissionDenied("the audit trail is append-only")


class WarehouseLoad(models.Model):
    """One refresh of the app from the warehouse: which warehouse batch it saw. Alerts are
    raised for encounters written by batches after the previous refresh's."""

    batch = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    summary = models.JSONField(default=dict)

    class Meta:
        ordering = ["-batch", "-id"]
