"""The directory of services, and referrals and requests to them.

A directory :class:`Service` is shaped like an Open Referral UK service: the organisation
that runs it, where, who is eligible (age, sex, register conditions, area), opening times,
contact, the referral routes it takes and its waiting time and capacity status with when
they were last updated. Each service has its own ``records.Organisation`` (kind
``service``): staff whose ``User.service`` is it are the receiving service.

A :class:`Referral` is one FHIR ServiceRequest with its Task's state, on one of the machines
of ``data/referrals/transitions.toml``: ``referral`` (advice and guidance first, then
triage, booking, seen, discharge) or ``request`` (the centre's other bookings: transport, a
social-care assessment, a voluntary service). Only ``machine.py`` changes ``state``; every
change is a :class:`ReferralEvent` (and an audit row). ``due`` is the working day the
current state's timer runs out (null when no timer runs), so overdue items are one indexed
filter.
"""

from __future__ import annotations

from django.db import models

from wraparound.apps.records.models import Organisation, Patient, User

SECTORS = [("nhs", "NHS"), ("social_care", "Social care"), ("voluntary", "Voluntary sector")]
CAPACITY = [("open", "Accepting"), ("limited", "Limited capacity"), ("closed", "Not accepting")]
ROUTES = ("advice_and_guidance", "referral", "self_referral", "bookable")
MACHINES = [("referral", "Referral"), ("request", "Request")]
URGENCY = [("routine", "Routine"), ("urgent", "Urgent")]


class Service(models.Model):
    service_id = models.CharField(max_length=64, unique=True)  # the ORUK id
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    organisation_name = models.CharField(max_length=200)
    organisation_id = models.CharField(max_length=64, blank=True)  # the ORUK organisation id
    org = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="directory_service"
    )
    sector = models.CharField(max_length=12, choices=SECTORS)
    specialty = models.CharField(max_length=40, blank=True)  # pathways.toml code
    taxonomy = models.JSONField(default=list)  # taxonomy term codes
    locality = models.CharField(max_length=60)  # the area it serves ("Dudley", "Trafford")
    areas = models.JSONField(default=list)  # neighbourhood or postcode districts; [] = all
    location_name = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=300, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    min_age = models.PositiveSmallIntegerField(null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=10, blank=True)  # "" any, "female", "male"
    conditions = models.JSONField(default=list)  # register ids (data/registers.csv)
    opening_times = models.JSONField(default=list)  # [{"weekday": ..., "opens", "closes"}]
    contact = models.JSONField(default=dict)  # {"phone", "email", "url"}
    routes = models.JSONField(default=list)  # from ROUTES
    advice_days = models.PositiveSmallIntegerField(null=True, blank=True)
    triage_days = models.PositiveSmallIntegerField(null=True, blank=True)
    provider_may_convert = models.BooleanField(default=False)
    waiting_weeks = models.PositiveSmallIntegerField(null=True, blank=True)
    capacity = models.CharField(max_length=10, choices=CAPACITY, default="open")
    status_updated = models.DateTimeField(null=True, blank=True)
    search_text = models.TextField(blank=True)  # lower-cased name, description, terms
    source_hash = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["locality", "sector"])]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def takes(self, route: str) -> bool:
        return route in self.routes


class Referral(models.Model):
    machine = models.CharField(max_length=10, choices=MACHINES, default="referral")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="referrals")
    state = models.CharField(max_length=20)
    open = models.BooleanField(default=True)
    referrer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    referrer_org = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    specialty = models.CharField(max_length=40, blank=True)
    reason = models.TextField()
    urgency = models.CharField(max_length=10, choices=URGENCY, default="routine")
    red_flag = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    state_since = models.DateTimeField()
    due = models.DateField(null=True, blank=True)
    outcome_reason = models.CharField(max_length=40, blank=True)
    identifier = models.CharField(max_length=64, unique=True)  # ServiceRequest.identifier
    # The referral this one was redirected from (its triage moved it here): its question and
    # attachments are this one's too (FHIR ServiceRequest.replaces)
    redirected_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="redirects"
    )

    class Meta:
        indexes = [
            models.Index(fields=["service", "open", "due"]),
            models.Index(fields=["referrer_org", "open", "due"]),
            models.Index(fields=["patient", "open"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_machine_display()} {self.identifier} to {self.service}"

    def chain(self) -> list[Referral]:
        """This referral and the ones it was redirected from, newest first."""
        out, seen, ref = [], set(), self
        while ref is not None and ref.pk not in seen:
            out.append(ref)
            seen.add(ref.pk)
            ref = ref.redirected_from
        return out


class ReferralEvent(models.Model):
    """One transition (or the creation: ``from_state`` empty)."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    transition = models.CharField(max_length=30)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    reason_code = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["transition", "at"])]


class Message(models.Model):
    """The conversation thread between the referrer and the service."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="messages")
    at = models.DateTimeField()
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10)  # referrer | provider
    text = models.TextField()

    class Meta:
        ordering = ["at", "pk"]


class Attachment(models.Model):
    """A file sent with a referral (a photograph, a result, the discharge letter), kept in
    the database (limits in data/referrals/rules.toml)."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="attachments")
    at = models.DateTimeField()
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    letter = models.BooleanField(default=False)  # the discharge letter
    data = models.BinaryField()

    class Meta:
        ordering = ["at", "pk"]
