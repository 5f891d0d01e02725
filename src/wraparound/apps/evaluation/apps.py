from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """Evaluation of interventions (difference-in-differences, interrupted time series) and
    demand projection, as pages over results the analytics wrote."""

    name = "wraparound.apps.evaluation"
    label = "evaluation"
