"""The materialised capacity ledger and access-standards rows (written by ``capacity.py``).

The dashboards read these rows and nothing else: the request path never aggregates slots or
appointments. ``capacity.refresh_ledger`` rebuilds them all in one transaction (called by
``wraparound app refresh`` and the demo), so a reader sees the old rows or the new ones.

Imported by ``models.py`` so Django registers them with the ``access`` app.
"""

from __future__ import annotations

from django.db import models

from wraparound.apps.records.models import Organisation

LEVELS = {"hub": "Hub", "neighbourhood": "Neighbourhood", "practice": "Practice"}
SPLITS = {
    "all": "All",
    "hours": "Hours",
    "mode": "Mode",
    "role": "HCP type",
    "lead_time": "Booking lead time",
    "national_category": "National category",
}


class CapacityWeek(models.Model):
    """One organisation's hub capacity in one week (Monday, Europe/London), whole
    (``split`` "all") or for one value of a split (hours band, mode, HCP role, GPAD lead-time
    bucket, national category).

    Minutes: ``offered`` (every slot not blocked), ``booked`` (slots held by an appointment
    not cancelled), ``used`` (held by an appointment attended), ``dna`` (held by one not
    attended). ``registered`` is the population served: a hub's and a neighbourhood's is the
    neighbourhood's registered list, a practice's its own list. A practice is offered its
    neighbourhood's hub minutes in proportion to its list. Appointment counts are of
    appointments starting in the week; lead-time and national-category rows carry counts
    (and minutes of what was booked) but no offered minutes."""

    level = models.CharField(max_length=16, choices=list(LEVELS.items()))
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    split = models.CharField(max_length=20, choices=list(SPLITS.items()))
    value = models.CharField(max_length=80)  # "" for split "all"
    registered = models.PositiveIntegerField()
    minutes_offered = models.FloatField(default=0)
    minutes_booked = models.FloatField(default=0)
    minutes_used = models.FloatField(default=0)
    minutes_dna = models.FloatField(default=0)
    appointments = models.PositiveIntegerField(default=0)  # not cancelled
    attended = models.PositiveIntegerField(default=0)
    dna = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    late_cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("level", "organisation", "week_start", "split", "value")
        constraints = (
            models.UniqueConstraint(
                fields=["level", "organisation", "week_start", "split", "value"],
                name="access_capacityweek_once",
            ),
        )
        indexes = (models.Index(fields=["level", "split", "week_start"]),)

    def per_1000(self, minutes: float) -> float | None:
        return minutes * 1000 / self.registered if self.registered else None

    @property
    def offered_per_1000(self) -> float | None:
        return self.per_1000(self.minutes_offered)

    @property
    def booked_per_1000(self) -> float | None:
        return self.per_1000(self.minutes_booked)

    @property
    def used_per_1000(self) -> float | None:
        return self.per_1000(self.minutes_used)

    @property
    def utilisation(self) -> float | None:
        """Minutes used as a share of minutes offered."""
        return self.minutes_used / self.minutes_offered if self.minutes_offered else None

    @property
    def dna_rate(self) -> float | None:
        """Appointments not attended as a share of those attended or not attended."""
        known = self.attended + self.dna
        return self.dna / known if known else None


class StandardsWeek(models.Model):
    """How one organisation's appointments in one week met one GM access standard
    (``data/access/access_standards.toml``), measured from the request to the start. A hub's
    rows are its appointments; a practice's, its patients' hub appointments; a
    neighbourhood's, its hubs'."""

    level = models.CharField(max_length=16, choices=list(LEVELS.items()))
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    standard = models.CharField(max_length=40)
    met = models.PositiveIntegerField(default=0)
    not_met = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    not_measurable = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("level", "organisation", "week_start", "standard")
        constraints = (
            models.UniqueConstraint(
                fields=["level", "organisation", "week_start", "standard"],
                name="access_standardsweek_once",
            ),
        )

    @property
    def measured(self) -> int:
        return self.met + self.not_met

    @property
    def share_met(self) -> float | None:
        return self.met / self.measured if self.measured else None


class LedgerRefresh(models.Model):
    """When the ledger was last rebuilt, from how many slots and appointments, and with
    which versions of the standards files (shown on the dashboards)."""

    at = models.DateTimeField(auto_now_add=True)
    summary = models.JSONField(default=dict)

    class Meta:
        ordering = ("-at", "-pk")
