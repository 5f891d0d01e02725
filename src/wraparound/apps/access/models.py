"""Hubs, sites, rotas (session templates), slots and appointments.

The one rule that matters under load lives in the database, not in Python: an active,
not-overbooked ``AppointmentSlot`` is unique per slot (a partial unique index that SQLite
and PostgreSQL both enforce), so two bookings of the last slot cannot both commit, and a
long appointment's two slots are inserted in one transaction, so either both are held or
neither. Overbooking is a separate row flag (``overbook``), set only for a role allowed to
(``Role.can_overbook``) and audited. Idempotency keys are unique per booker.

Every change to an appointment writes an ``AppointmentVersion`` (and an audit row,
``services.py``). Times are aware datetimes; pages and the FHIR API show them in
Europe/London with their offset.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from wraparound.apps.access.vocabulary import (
    APPOINTMENT_STATUSES,
    HCP_ROLES,
    MODES,
    NEEDS,
    SLOT_STATUSES,
    SLOT_TYPES,
    choices,
)
from wraparound.apps.records.models import Organisation, Patient

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday")]
WEEKDAYS += [(4, "Friday"), (5, "Saturday"), (6, "Sunday")]


class Hub(models.Model):
    """A 7-day access hub: an organisation (kind ``hub``, the service hub staff work for,
    ``User.service``) serving one neighbourhood. ``opening_hours`` is
    ``{"0": ["08:00", "20:00"], ..., "6": ["09:00", "18:00"]}`` (weekday -> open, close; a
    missing day is closed), defaulting to ``data/access/hub_defaults.toml``. Bank holidays
    (England) are closed unless ``open_on_bank_holidays``; ``HubDay`` opens or closes one
    date either way."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="access_hub"
    )
    neighbourhood = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    opening_hours = models.JSONField(default=dict)
    open_on_bank_holidays = models.BooleanField(default=False)
    bank_holiday_hours = models.JSONField(default=list, blank=True)  # [open, close] when open

    def __str__(self) -> str:
        return self.name


class HubDay(models.Model):
    """One date opened or closed against the hub's usual rule (a bank holiday opened, a
    training afternoon closed)."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    open = models.BooleanField()
    opens = models.TimeField(null=True, blank=True)
    closes = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hub", "date"], name="access_hubday_one")]


class Site(models.Model):
    """A place a hub sees patients (FHIR Location)."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    postcode = models.CharField(max_length=10, blank=True)

    def __str__(self) -> str:
        return self.name


class SessionTemplate(models.Model):
    """A recurring rota session (FHIR Schedule): a clinician in a role at a site, one
    weekday from ``start`` to ``end`` local time, cut into slots of ``slot_minutes`` of one
    mode and type, between ``valid_from`` and ``valid_to``. Embargo: slots are released to
    practices ``release_to_practices_hours`` and to patients ``release_to_patients_hours``
    before they start (hub staff always see them)."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="sessions")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="sessions")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    clinician_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=choices(HCP_ROLES))
    mode = models.CharField(max_length=20, choices=choices(MODES))
    slot_type = models.CharField(max_length=20, choices=choices(SLOT_TYPES))
    slot_minutes = models.PositiveSmallIntegerField()
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    start = models.TimeField()
    end = models.TimeField()
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    release_to_practices_hours = models.PositiveIntegerField(null=True, blank=True)
    release_to_patients_hours = models.PositiveIntegerField(null=True, blank=True)

    def who(self) -> str:
        if self.clinician_id:
            return self.clinician.get_full_name() or self.clinician.username
        return self.clinician_name or HCP_ROLES[self.role]


class Slot(models.Model):
    """One bookable slot. ``status`` mirrors the database truth (an active
    ``AppointmentSlot``) for fast "free" searches and is written in the same transaction;
    the unique index on ``AppointmentSlot`` is what refuses a second booking. Embargo: before
    ``released_to_practices_at`` only hub staff may book it; before
    ``released_to_patients_at`` no patient may (the portal, later)."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="slots")
    session = models.ForeignKey(
        SessionTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="slots")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(max_length=20, choices=choices(HCP_ROLES))
    mode = models.CharField(max_length=20, choices=choices(MODES))
    slot_type = models.CharField(max_length=20, choices=choices(SLOT_TYPES))
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=choices(SLOT_STATUSES), default="free")
    released_to_practices_at = models.DateTimeField(null=True, blank=True)
    released_to_patients_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start", "pk"]
        indexes = [
            models.Index(fields=["status", "start"]),
            models.Index(fields=["hub", "start"]),
            models.Index(fields=["clinician", "start"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "start"],
                condition=Q(session__isnull=False),
                name="access_slot_once_per_session_start",
            ),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="access_slot_end"),
        ]

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class Appointment(models.Model):
    """A booking of a patient into one slot, or two adjacent slots for a long appointment,
    by hub or practice staff (``booked_by``, for ``booking_org``) or over the FHIR API
    (``booked_by`` empty, ``api_token`` set). The status lifecycle is in
    ``vocabulary.TRANSITIONS``; cancellation under 24 hours before the start is recorded as
    ``late_cancellation``. ``help_requested_at`` and ``need`` are when the patient asked and
    what for, so the access standards can be measured to ``start``."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="appointments")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    api_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    booking_org = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()  # of the first slot
    end = models.DateTimeField()  # of the last slot
    reason = models.CharField(max_length=500, blank=True)
    mode = models.CharField(max_length=20, choices=choices(MODES))
    slot_type = models.CharField(max_length=20, choices=choices(SLOT_TYPES))
    reasonable_adjustments = models.TextField(blank=True)
    interpreter = models.BooleanField(default=False)
    interpreter_language = models.CharField(max_length=60, blank=True)
    need = models.CharField(max_length=20, choices=choices(NEEDS), default="routine")
    help_requested_at = models.DateTimeField(null=True, blank=True)
    national_category = models.CharField(max_length=80, blank=True)
    status = models.CharField(
        max_length=20, choices=choices(APPOINTMENT_STATUSES), default="booked"
    )
    booked_at = models.DateTimeField(auto_now_add=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    late_cancellation = models.BooleanField(default=False)
    rebooked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rebooked_as"
    )
    overbooked = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=100, blank=True)
    idempotency_owner = models.CharField(max_length=40, blank=True)  # "user:12" / "token:3"
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["start", "pk"]
        indexes = [
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["hub", "start"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="access_appointment_idempotent",
            )
        ]

    @property
    def active(self) -> bool:
        return self.status in ("booked", "arrived", "seen")


class AppointmentSlot(models.Model):
    """Which slots an appointment holds. The partial unique index is the race-free rule:
    one active, not-overbooked holder per slot. Cancelling sets ``active`` false (the row
    stays, so the history of who held the slot stays)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="holds")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="holds")
    active = models.BooleanField(default=True)
    overbook = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(active=True, overbook=False),
                name="access_one_active_booking_per_slot",
            )
        ]


class AppointmentVersion(models.Model):
    """Every state of an appointment, as it was after each change: who, when, what changed,
    and the whole appointment as data."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    by_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change = models.CharField(max_length=200)
    data = models.JSONField()

    class Meta:
        ordering = ["appointment", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "version"], name="access_appointment_version_once"
            )
        ]


class ApiToken(models.Model):
    """A bearer token for the FHIR API, tied to one organisation (the booking organisation
    of everything booked with it). Only a SHA-256 of the token is stored; the token itself is
    shown once when issued (``manage.py issue_fhir_token``)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation_id})"


# The capacity ledger's materialised rows (A2, issue 13) live in their own module.
from wraparound.apps.access.ledger_models import (  # noqa: E402, F401
    CapacityWeek,
    LedgerRefresh,
    StandardsWeek,
)
