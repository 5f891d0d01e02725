"""Indicator results copied into the app by ``wraparound app refresh``.

Pages read these small tables, never Parquet, so a request costs a few indexed queries.
Internal figures (exact counts, clinician rows) and published figures (after disclosure
control) live in separate tables: the public pages query ``PublicValue`` only, so no code
path on an open page can reach an unrounded count or a clinician row.
"""

from __future__ import annotations

from django.db import models


class IndicatorRun(models.Model):
    """One published indicators run (``results/indicators/<run_id>/``)."""

    run_id = models.CharField(max_length=40, unique=True)
    created_at = models.CharField(max_length=40)
    period_last = models.CharField(max_length=7)
    baseline_year = models.CharField(max_length=10, blank=True)
    rule = models.TextField()
    definitions = models.JSONField(default=list)  # definitions.json + status from manifest
    clinicians = models.JSONField(default=dict)  # practitioner role id -> display name
    current = models.BooleanField(default=False)
    # What the loader copied (``load.LOAD_VERSION``): a run loaded by an older loader is
    # loaded again by the next refresh, so new app tables fill without a new indicators run.
    load_version = models.PositiveSmallIntegerField(default=1)
    loaded_at = models.DateTimeField(auto_now_add=True)

    @classmethod
    def latest(cls) -> IndicatorRun | None:
        return cls.objects.filter(current=True).first()

    def definition(self, indicator_id: str) -> dict | None:
        return next((d for d in self.definitions if d["id"] == indicator_id), None)


class ValueFields(models.Model):
    """One indicator, one organisation (or clinician), one month: the columns of
    ``indicator_values.parquet`` that the pages show."""

    run = models.ForeignKey(IndicatorRun, on_delete=models.CASCADE, related_name="+")
    indicator_id = models.CharField(max_length=60)
    period = models.CharField(max_length=7)
    period_end = models.DateField()
    level = models.CharField(max_length=16)
    org_id = models.CharField(max_length=40)
    parent_id = models.CharField(max_length=40, blank=True)
    numerator = models.FloatField(null=True)
    denominator = models.FloatField(null=True)
    value = models.FloatField(null=True)
    lower95 = models.FloatField(null=True)
    upper95 = models.FloatField(null=True)
    lower998 = models.FloatField(null=True)
    upper998 = models.FloatField(null=True)
    peer_value = models.FloatField(null=True)
    funnel_lower95 = models.FloatField(null=True)
    funnel_upper95 = models.FloatField(null=True)
    funnel_lower998 = models.FloatField(null=True)
    funnel_upper998 = models.FloatField(null=True)
    funnel_status = models.CharField(max_length=20, blank=True)
    funnel_status95 = models.CharField(max_length=20, blank=True)
    assessment = models.CharField(max_length=30, blank=True)
    decile = models.SmallIntegerField(null=True)
    percentile_rank = models.FloatField(null=True)
    change_12m = models.FloatField(null=True)
    trend = models.CharField(max_length=40, blank=True)

    class Meta:
        abstract = True


class IndicatorValue(ValueFields):
    """Internal, exact figures: practices, neighbourhoods and the locality for every month,
    and clinicians for the latest month (shown only to their own practice)."""

    class Meta:
        indexes = [
            models.Index(fields=["run", "org_id", "indicator_id", "period"]),
            models.Index(fields=["run", "indicator_id", "level", "period"]),
        ]


class SubgroupValue(ValueFields):
    """Internal, exact figures of an indicator broken down into subgroups (the specialties
    of ``outpatient_attendances_by_specialty``): practices, neighbourhoods and the locality,
    every month. Kept apart from ``IndicatorValue`` so that every query of the ``all``
    figures stays as it is; never published (the public pages do not read it)."""

    subgroup = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["run", "org_id", "indicator_id", "period"])]


class PublicValue(ValueFields):
    """Published figures (``public/indicator_values.parquet``): counts of 1-7 and everything
    derived from them blank, other counts rounded to 5; never clinicians."""

    suppressed = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["run", "org_id", "indicator_id", "period"])]


class Outlier(models.Model):
    """A practice-month outside the 99.8% funnel limits (``outliers.parquet``), for the whole
    indicator (subgroup ``all``) or one specialty of a broken-down indicator."""

    run = models.ForeignKey(IndicatorRun, on_delete=models.CASCADE, related_name="+")
    indicator_id = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    direction = models.CharField(max_length=10)
    period = models.CharField(max_length=7)
    org_id = models.CharField(max_length=40)
    neighbourhood_id = models.CharField(max_length=40, blank=True)
    subgroup = models.CharField(max_length=40, default="all")
    numerator = models.FloatField(null=True)
    denominator = models.FloatField(null=True)
    value = models.FloatField(null=True)
    lower95 = models.FloatField(null=True)
    upper95 = models.FloatField(null=True)
    peer_value = models.FloatField(null=True)
    funnel_lower998 = models.FloatField(null=True)
    funnel_upper998 = models.FloatField(null=True)
    funnel_status = models.CharField(max_length=20)
    assessment = models.CharField(max_length=30, blank=True)
    consecutive_periods = models.IntegerField(default=1)
    latest = models.BooleanField(default=False)


class QuintileValue(models.Model):
    """The latest month of each indicator by deprivation quintile (``inequalities.parquet``),
    with the gap between the most and least deprived fifths."""

    run = models.ForeignKey(IndicatorRun, on_delete=models.CASCADE, related_name="+")
    indicator_id = models.CharField(max_length=60)
    period = models.CharField(max_length=7)
    level = models.CharField(max_length=16)
    org_id = models.CharField(max_length=40)
    imd_quintile = models.SmallIntegerField()
    numerator = models.FloatField(null=True)
    denominator = models.FloatField(null=True)
    value = models.FloatField(null=True)
    lower95 = models.FloatField(null=True)
    upper95 = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "org_id", "indicator_id"])]


class InequalityGap(models.Model):
    run = models.ForeignKey(IndicatorRun, on_delete=models.CASCADE, related_name="+")
    indicator_id = models.CharField(max_length=60)
    period = models.CharField(max_length=7)
    level = models.CharField(max_length=16)
    org_id = models.CharField(max_length=40)
    most_deprived = models.FloatField(null=True)
    least_deprived = models.FloatField(null=True)
    gap = models.FloatField(null=True)
    ratio = models.FloatField(null=True)


class Outcome(models.Model):
    """Emergency admissions, A&E attendances and excess bed days per 1,000 against the
    baseline year, monthly, for the locality and each neighbourhood (``outcomes.parquet``)."""

    run = models.ForeignKey(IndicatorRun, on_delete=models.CASCADE, related_name="+")
    measure = models.CharField(max_length=40)
    indicator_id = models.CharField(max_length=60)
    level = models.CharField(max_length=16)
    org_id = models.CharField(max_length=40)
    period = models.CharField(max_length=7)
    period_end = models.DateField()
    events = models.FloatField(null=True)
    person_years = models.FloatField(null=True)
    rate_per_1000 = models.FloatField(null=True)
    rolling_12m_rate = models.FloatField(null=True)
    baseline_year = models.CharField(max_length=10, blank=True)
    baseline_rate = models.FloatField(null=True)
    target_rate = models.FloatField(null=True)
    change_vs_baseline_pct = models.FloatField(null=True)
    share_of_way = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "org_id", "measure"])]
