from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    """The Friends and Family Test along the pathway: touchpoints, responses and their
    monthly roll-up as indicators."""

    name = "wraparound.apps.feedback"
    label = "feedback"
