from django.apps import AppConfig


class CareConfig(AppConfig):
    """Caseloads, status, care plans, MDT meetings, tasks and alerts."""

    name = "wraparound.apps.care"
    label = "care"
