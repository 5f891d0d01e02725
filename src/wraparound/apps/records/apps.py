from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """Organisations, staff and their roles/scopes, the patient index, relationships, audit."""

    name = "wraparound.apps.records"
    label = "records"

    def ready(self) -> None:
        from wraparound.apps.records import providers

        providers.register()
