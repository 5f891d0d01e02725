"""The access app's URLs: pages under /access/ and the FHIR API under /fhir/. The patient's
appointment views (/patients/<pk>/appointments...) are in web/urls.py with the other
patient-record URLs, where the audit walk finds them."""

from django.urls import path

from wraparound.apps.access import fhir_api, rota_views, views

urlpatterns = [
    path("access/", views.hubs, name="access_hubs"),
    path("access/hubs/<int:hub_id>/rota", views.rota, name="access_rota"),
    path("access/hubs/<int:hub_id>/rota/edit", rota_views.edit_rota, name="access_rota_edit"),
    path("access/find", views.find_slot, name="access_find"),
    path("access/day", views.day_list, name="access_day"),
    path("fhir/Slot", fhir_api.slot_search, name="fhir_slot_search"),
    path("fhir/Appointment", fhir_api.appointments, name="fhir_appointments"),
    path("fhir/Appointment/<int:pk>", fhir_api.appointment, name="fhir_appointment"),
]
