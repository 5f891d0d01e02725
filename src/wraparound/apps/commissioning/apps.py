from django.apps import AppConfig


class CommissioningConfig(AppConfig):
    """Commissioning: local QOF with achievement and payment, budget against spend,
    early warning for practices, and the decisions log with declared interests."""

    name = "wraparound.apps.commissioning"
    label = "commissioning"
