from django.apps import AppConfig


class RegistersConfig(AppConfig):
    """Register worklists read from materialised stratification results."""

    name = "wraparound.apps.registers"
    label = "registers"

    def ready(self) -> None:
        from wraparound.apps.registers import relationships

        relationships.register()
