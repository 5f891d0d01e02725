"""The triage app's URLs: the public self-referral forms (under /self-referral/, open without
signing in: web/headers.py OPEN_PATHS) and the practice's triage queue."""

from django.urls import path

from wraparound.apps.triage import public_views, views

urlpatterns = [
    path("self-referral/", public_views.index, name="self_referral_index"),
    path("self-referral/<slug:form_id>/", public_views.self_referral, name="self_referral"),
    path("triage/", views.queue, name="triage_queue"),
    path("triage/review/", views.review, name="triage_review"),
    path("triage/<int:request_id>/", views.detail, name="triage_detail"),
    path("triage/<int:request_id>/answer", views.answer, name="triage_answer"),
    path("triage/<int:request_id>/action", views.record_action, name="triage_action"),
    path("triage/<int:request_id>/resolve", views.resolve, name="triage_resolve"),
]
