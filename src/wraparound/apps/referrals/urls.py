"""The referrals app's URLs. The patient's referrals page (/patients/<pk>/referrals) is in
web/urls.py with the other patient-record URLs, where the audit walk finds it; a
referral's thread resolves its patient and goes through the same gate."""

from django.urls import path

from wraparound.apps.referrals import views

urlpatterns = [
    path("directory/", views.directory_search, name="referrals_directory"),
    path("referrals/", views.referrer_worklist, name="referrals_worklist"),
    path("referrals/queue", views.triage_queue, name="referrals_queue"),
    path("referrals/centre", views.centre_worklist, name="referrals_centre"),
    path("referrals/<int:referral_id>/", views.referral_thread, name="referral_thread"),
    path(
        "referrals/<int:referral_id>/attachments/<int:attachment_id>",
        views.attachment,
        name="referral_attachment",
    ),
]
