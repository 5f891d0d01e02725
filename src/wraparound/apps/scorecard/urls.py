"""Scorecard URLs (included by ``web/urls.py``). Every CSV is the table of the page it sits
on; ``/public/`` is the only prefix open without signing in (``web/headers.py``)."""

from django.urls import path

from wraparound.apps.scorecard import public_views, views

P = "scorecard/practices/<str:ods>/"

urlpatterns = [
    path("scorecard/", views.index, name="scorecard"),
    path(P, views.practice, name="scorecard_practice"),
    path(P + "scorecard.csv", views.practice, {"fmt": "csv"}, name="scorecard_practice_csv"),
    path(
        P + "clinicians.csv",
        views.practice,
        {"fmt": "clinicians.csv"},
        name="scorecard_clinicians_csv",
    ),
    path(
        P + "<str:specialty_of>/specialties.csv",
        views.practice,
        {"fmt": "specialties.csv"},
        name="scorecard_specialties_csv",
    ),
    path(P + "<str:indicator_id>/", views.indicator, name="scorecard_indicator"),
    path(
        P + "<str:indicator_id>/trend.csv",
        views.indicator,
        {"fmt": "trend.csv"},
        name="scorecard_trend_csv",
    ),
    path(
        P + "<str:indicator_id>/funnel.csv",
        views.indicator,
        {"fmt": "funnel.csv"},
        name="scorecard_funnel_csv",
    ),
    path("scorecard/outliers/", views.outliers, name="scorecard_outliers"),
    path("scorecard/outliers.csv", views.outliers, {"fmt": "csv"}, name="scorecard_outliers_csv"),
    path("scorecard/inequalities/", views.inequalities, name="scorecard_inequalities"),
    path(
        "scorecard/inequalities.csv",
        views.inequalities,
        {"fmt": "csv"},
        name="scorecard_inequalities_csv",
    ),
    path("scorecard/outcomes/", views.outcomes, name="scorecard_outcomes"),
    path(
        "scorecard/outcomes/<str:measure>.csv",
        views.outcomes,
        {"fmt": "csv"},
        name="scorecard_outcomes_csv",
    ),
    path("public/practices/", public_views.index, name="public_practices"),
    path("public/practices/<str:ods>/", public_views.practice, name="public_practice"),
    path(
        "public/practices/<str:ods>/indicators.csv",
        public_views.practice,
        {"fmt": "csv"},
        name="public_practice_csv",
    ),
]
