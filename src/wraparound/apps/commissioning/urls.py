"""The commissioning app's URLs (included at "" by ``web/urls.py``). Every CSV is a table of
the page it sits on."""

from django.urls import path

from wraparound.apps.commissioning import (
    budget_views,
    early_warning_views,
    governance_views,
    local_qof_views,
)

Q = "commissioning/local-qof/"
P = Q + "practices/<str:ods>/"

urlpatterns = [
    path(Q, local_qof_views.dashboard, name="commissioning_local_qof"),
    path(
        Q + "practices.csv",
        local_qof_views.dashboard,
        {"fmt": "practices.csv"},
        name="commissioning_local_qof_practices_csv",
    ),
    path(
        Q + "lines.csv",
        local_qof_views.dashboard,
        {"fmt": "lines.csv"},
        name="commissioning_local_qof_lines_csv",
    ),
    path(
        Q + "trend.csv",
        local_qof_views.dashboard,
        {"fmt": "trend.csv"},
        name="commissioning_local_qof_trend_csv",
    ),
    path(
        Q + "claims.csv",
        local_qof_views.dashboard,
        {"fmt": "claims.csv"},
        name="commissioning_local_qof_claims_csv",
    ),
    path(P, local_qof_views.practice, name="commissioning_local_qof_practice"),
    path(
        P + "lines.csv",
        local_qof_views.practice,
        {"fmt": "lines.csv"},
        name="commissioning_local_qof_practice_csv",
    ),
    path(
        P + "trend.csv",
        local_qof_views.practice,
        {"fmt": "trend.csv"},
        name="commissioning_local_qof_practice_trend_csv",
    ),
    path(
        P + "claims.csv",
        local_qof_views.practice,
        {"fmt": "claims.csv"},
        name="commissioning_local_qof_practice_claims_csv",
    ),
    path("commissioning/budget/", budget_views.view, name="commissioning_budget"),
    *(
        path(
            f"commissioning/budget/{name}.csv",
            budget_views.view,
            {"fmt": f"{name}.csv"},
            name=f"commissioning_budget_{name}_csv",
        )
        for name in ("lines", "months", "shift", "practices")
    ),
    path(
        "commissioning/early-warning/",
        early_warning_views.listing,
        name="commissioning_early_warning",
    ),
    path(
        "commissioning/early-warning.csv",
        early_warning_views.listing,
        {"fmt": "csv"},
        name="commissioning_early_warning_csv",
    ),
    path(
        "commissioning/early-warning/<str:ods>/",
        early_warning_views.practice,
        name="commissioning_early_warning_practice",
    ),
    path(
        "commissioning/early-warning/<str:ods>/trend.csv",
        early_warning_views.practice,
        {"fmt": "csv"},
        name="commissioning_early_warning_practice_csv",
    ),
    path("commissioning/decisions/", governance_views.decisions, name="commissioning_decisions"),
    path(
        "commissioning/decisions/new",
        governance_views.record_decision,
        name="commissioning_decision_new",
    ),
    path("commissioning/interests/", governance_views.interests, name="commissioning_interests"),
]
