from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Hubs, rotas, slots and appointments. Depends on records only; registers its
    ``booking`` relationship provider with the one relationship model."""

    name = "wraparound.apps.access"
    label = "access"

    def ready(self) -> None:
        from wraparound.apps.access import relationships

        relationships.register()
