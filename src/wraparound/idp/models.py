"""The provider's accounts (NHS login's identity claims) and its clients' public keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models

LEVELS = [("P0", "P0: not verified"), ("P5", "P5: basic"), ("P9", "P9: high")]
# The vector of trust NHS login reports with each level (proofing.authentication).
VOT = {"P0": "P0.Cp.Cd", "P5": "P5.Cp.Cd", "P9": "P9.Cp.Cd"}


class Account(models.Model):
    """An NHS login account: the person's verified NHS number and how well they were
    proved (``identity_proofing_level``)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    nhs_number = models.CharField(max_length=10, blank=True)
    proofing_level = models.CharField(max_length=2, choices=LEVELS)
    birthdate = models.DateField(null=True, blank=True)


class ClientKey(models.Model):
    """A client's public keys (a JWKS), which its ``private_key_jwt`` assertions must be
    signed by."""

    client_id = models.CharField(max_length=100, unique=True)
    jwks = models.JSONField()


class UsedAssertion(models.Model):
    """A client assertion's ``jti``, kept until it expires so it cannot be replayed."""

    jti = models.CharField(max_length=200, unique=True)
    expires_at = models.DateTimeField()
