from django.apps import AppConfig


class CareConfig(AppConfig):
    """Caseloads, status, care plans, MDT meetings, tasks and alerts."""

    name = "wraparound.apps.care"
    label = "care"

    def ready(self) -> None:
        from wraparound.apps.care import relationships

        relationships.register()
