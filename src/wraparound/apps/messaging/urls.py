"""The messaging app's URLs."""

from django.urls import path

from wraparound.apps.messaging import views

urlpatterns = [path("messages/", views.outbox, name="messages_outbox")]
