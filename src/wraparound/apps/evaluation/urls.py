"""The evaluation app's URLs: the reports of interventions and the demand projection, each
chart's table also as CSV."""

from django.urls import path

from wraparound.apps.evaluation import views

E = "evaluation/interventions/<str:intervention_id>/"

urlpatterns = [
    path("evaluation/", views.index, name="evaluation"),
    path("evaluation/demand/", views.demand, name="evaluation_demand"),
    path(
        "evaluation/demand/<str:measure>.csv",
        views.demand,
        {"fmt": "csv"},
        name="evaluation_demand_csv",
    ),
    path(E, views.report, name="evaluation_report"),
    path(E + "effects.csv", views.report, {"fmt": "effects"}, name="evaluation_effects_csv"),
    path(E + "balance.csv", views.report, {"fmt": "balance"}, name="evaluation_balance_csv"),
    path(
        E + "<str:measure>/series.csv",
        views.report,
        {"fmt": "series"},
        name="evaluation_series_csv",
    ),
]
