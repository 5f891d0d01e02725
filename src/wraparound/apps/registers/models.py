"""Register rows copied from a stratification run (``DIR/results/risk/<run_id>/``), so the
worklist pages query indexed app tables instead of running analytics per request."""

from __future__ import annotations

from django.db import models

from wraparound.apps.records.models import Organisation, Patient


class RegisterRun(models.Model):
    run_id = models.CharField(max_length=64, unique=True)
    model_version = models.CharField(max_length=64, blank=True)
    index_date = models.DateField()
    loaded_at = models.DateTimeField(auto_now_add=True)
    current = models.BooleanField(default=False)
    model_card = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.run_id} ({self.index_date})"


class RegisterEntry(models.Model):
    """A patient on the register in one run, with the score, band, stream, eFI and the
    plain-words reasons the model gives; ``is_new`` marks patients who entered this run."""

    run = models.ForeignKey(RegisterRun, on_delete=models.CASCADE, related_name="entries")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="register_entries")
    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    neighbourhood = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    score = models.FloatField()
    risk_band = models.CharField(max_length=20)
    percentile = models.FloatField()
    stream = models.CharField(max_length=20)
    efi = models.FloatField(null=True)
    efi_category = models.CharField(max_length=20, blank=True)
    deficits = models.JSONField(default=list)
    reasons = models.JSONField(default=list)
    is_new = models.BooleanField(default=False)

    class Meta:
        unique_together = [("run", "patient")]
        indexes = [
            models.Index(fields=["run", "practice", "score"]),
            models.Index(fields=["run", "neighbourhood", "score"]),
            models.Index(fields=["run", "score"]),
            models.Index(fields=["patient", "run"]),
        ]

    @classmethod
    def current(cls) -> models.QuerySet[RegisterEntry]:
        return cls.objects.filter(run__current=True)
