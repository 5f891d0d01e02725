"""The outreach app's URLs (staff only: behind the login wall)."""

from django.urls import path

from wraparound.apps.outreach import views

urlpatterns = [
    path("outreach/", views.index, name="outreach"),
    path("outreach/<str:cohort_id>/", views.call_list, name="outreach_list"),
    path("outreach/<str:cohort_id>/send", views.send, name="outreach_send"),
    path("patients/<int:pk>/outreach/", views.patient_outreach, name="patient_outreach"),
]
