"""The feedback app's URLs. ``/feedback/`` is open without signing in (``web/headers.py``),
as FFT links sent by SMS are; the staff pages are under ``/fft/``."""

from django.urls import path

from wraparound.apps.feedback import views

urlpatterns = [
    path("feedback/<str:token>", views.form, name="feedback_form"),
    path("fft/results/", views.results, name="feedback_results"),
    path("fft/comments/", views.comments, name="feedback_comments"),
    path("public/feedback/", views.public_results, name="public_feedback"),
]
