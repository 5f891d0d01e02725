from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Messages to patients: GOV.UK Notify in production, a local outbox for the demo and
    tests, so no test ever sends a real message."""

    name = "wraparound.apps.messaging"
    label = "messaging"
