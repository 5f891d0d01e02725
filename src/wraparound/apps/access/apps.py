from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Hubs, rotas, slots and appointments. Depends on records and care; registers its
    ``booking`` relationship provider with the one relationship model, and its appointments
    as a source of care's patient timeline."""

    name = "wraparound.apps.access"
    label = "access"

    def ready(self) -> None:
        from wraparound.apps.access import relationships, timeline

        relationships.register()
        timeline.register()
