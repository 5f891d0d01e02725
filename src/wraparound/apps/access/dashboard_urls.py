"""URLs of the capacity and access-standards dashboards (included by ``web/urls.py``)."""

from django.urls import path

from wraparound.apps.access import dashboard_views

urlpatterns = [
    path("access/capacity/", dashboard_views.capacity, name="access_capacity"),
    path(
        "access/capacity.csv", dashboard_views.capacity, {"fmt": "csv"}, name="access_capacity_csv"
    ),
    path("access/standards/", dashboard_views.access_standards, name="access_standards"),
    path(
        "access/standards.csv",
        dashboard_views.access_standards,
        {"fmt": "csv"},
        name="access_standards_csv",
    ),
]
