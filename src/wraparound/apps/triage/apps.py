from django.apps import AppConfig


class TriageConfig(AppConfig):
    """The practice's triage queue: self-referrals from the public forms and the portal's
    "ask my practice" requests, with red-flag screening and patient matching."""

    name = "wraparound.apps.triage"
    label = "triage"
