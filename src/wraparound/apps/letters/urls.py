from django.urls import path

from wraparound.apps.letters import views

urlpatterns = [
    path("letters/", views.dashboard, name="letters_dashboard"),
]
