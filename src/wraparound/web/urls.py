"""URL map. Every URL with ``<int:pk>`` under ``patients/`` is a patient-record view and goes
through ``access.patient_view`` (the audit-walk test checks this)."""

from django.contrib.auth.views import LogoutView
from django.http import HttpResponse
from django.urls import include, path

from wraparound.apps.access import views as access
from wraparound.apps.care import mdt_views, patient_views, plan_views, review_views
from wraparound.apps.care import views as care
from wraparound.apps.records import views as records
from wraparound.apps.records.auth import LoginView
from wraparound.apps.referrals import views as referrals
from wraparound.apps.registers import views as registers
from wraparound.web import home

# Malformed parameters: a 400 page with the reason (web/bad_request.py), never a 500.
handler400 = "wraparound.web.bad_request.bad_request"

urlpatterns = [
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("", home.home, name="home"),
    path("register/", registers.worklist, name="worklist"),
    path("caseload/", care.caseload, name="caseload"),
    path("tasks/", care.tasks, name="tasks"),
    path("tasks/<int:task_id>/done", care.task_done, name="task_done"),
    path("alerts/", care.alerts, name="alerts"),
    path("mdt/", mdt_views.mdt_list, name="mdt_list"),
    path("mdt/<int:meeting_id>/", mdt_views.mdt_detail, name="mdt_detail"),
    path("audit/", records.audit_search, name="audit_search"),
    path("audit/break-glass/", records.break_glass_review, name="break_glass_review"),
    path("patients/<int:pk>/", patient_views.patient_detail, name="patient"),
    path("patients/<int:pk>/timeline", patient_views.patient_timeline, name="patient_timeline"),
    path("patients/<int:pk>/break-glass", records.break_glass, name="break_glass"),
    path("patients/<int:pk>/case", care.case_manage, name="case_manage"),
    path("patients/<int:pk>/care-plan/", plan_views.care_plan, name="care_plan"),
    path("patients/<int:pk>/care-plan/edit", plan_views.care_plan_edit, name="care_plan_edit"),
    path("patients/<int:pk>/care-plan/print", plan_views.care_plan_print, name="care_plan_print"),
    path("patients/<int:pk>/care-plan/fhir", plan_views.care_plan_fhir, name="care_plan_fhir"),
    path("patients/<int:pk>/reviews", review_views.reviews, name="reviews"),
    path("patients/<int:pk>/mdt", mdt_views.mdt_add, name="mdt_add"),
    path("patients/<int:pk>/mdt/<int:item_id>", mdt_views.mdt_outcome, name="mdt_outcome"),
    path(
        "patients/<int:pk>/appointments",
        access.patient_appointments,
        name="access_patient_appointments",
    ),
    path("patients/<int:pk>/appointments/book", access.book_slot, name="access_book"),
    path("patients/<int:pk>/appointments/change", access.appointment_status, name="access_change"),
    path("patients/<int:pk>/referrals", referrals.patient_referrals, name="referrals_patient"),
    path("", include("wraparound.apps.access.urls")),
    path("", include("wraparound.apps.scorecard.urls")),
    path("", include("wraparound.apps.access.dashboard_urls")),
    path("", include("wraparound.apps.messaging.urls")),
    path("", include("wraparound.apps.referrals.urls")),
    path("", include("wraparound.apps.triage.urls")),
    path("", include("wraparound.apps.outreach.urls")),
    path("", include("wraparound.apps.feedback.urls")),
    path("", include("wraparound.apps.letters.urls")),
    path("", include("wraparound.apps.portal.urls")),
    path("", include("wraparound.apps.commissioning.urls")),
    path("", include("wraparound.apps.evaluation.urls")),
]
