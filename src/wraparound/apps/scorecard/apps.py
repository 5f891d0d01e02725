from django.apps import AppConfig


class ScorecardConfig(AppConfig):
    """Practice scorecards, funnel plots, trends, outliers, inequalities and outcomes, read
    from materialised indicator results, and the public (disclosure-controlled) pages."""

    name = "wraparound.apps.scorecard"
    label = "scorecard"
