"""The portal app's URLs: the patient portal under /portal/ (its own sign-in, web/headers.py
lets it through the staff login wall) and the staff page for a patient's portal."""

from django.urls import path

from wraparound.apps.portal import signin_views, staff_views, views

urlpatterns = [
    path("portal/", views.home, name="portal_home"),
    path("portal/sign-in", signin_views.sign_in, name="portal_sign_in"),
    path("portal/callback", signin_views.callback, name="portal_callback"),
    path("portal/sign-out", signin_views.sign_out, name="portal_sign_out"),
    path("portal/jwks.json", signin_views.jwks, name="portal_jwks"),
    path("portal/act-for", views.act_for, name="portal_act_for"),
    path("portal/record", views.my_record, name="portal_record"),
    path("portal/record/fhir", views.download_fhir, name="portal_record_fhir"),
    path("portal/record/print", views.printable, name="portal_record_print"),
    path("portal/care-plan", views.care_plan, name="portal_care_plan"),
    path("portal/appointments", views.appointments, name="portal_appointments"),
    path("portal/appointments/book", views.book, name="portal_book"),
    path("portal/appointments/<int:appointment_id>", views.booked, name="portal_booked"),
    path("portal/appointments/<int:appointment_id>/change", views.change, name="portal_change"),
    path("portal/who-looked", views.who_looked, name="portal_who_looked"),
    path("portal/proxies", views.proxy_list, name="portal_proxies"),
    path("portal/proxies/accept", views.accept, name="portal_proxy_accept"),
    path("portal/feedback", views.feedback, name="portal_feedback"),
    path("portal/ask", views.ask, name="portal_ask"),
    path("patients/<int:pk>/portal", staff_views.portal_admin, name="portal_admin"),
]
