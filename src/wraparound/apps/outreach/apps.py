from django.apps import AppConfig


class OutreachConfig(AppConfig):
    """Proactive outreach: cohorts as data, call lists and batch messages throttled to free
    hub capacity."""

    name = "wraparound.apps.outreach"
    label = "outreach"
