"""The home page. It shows a direct-care user their open tasks and the alerts for patients
they are named GP or co-ordinator for (care's), and it is the page later apps add to, so it
sits in web, above every app, rather than in one of them (records imports no other app)."""

from __future__ import annotations

from django.shortcuts import render

from wraparound.apps.care.models import Task
from wraparound.apps.care.views import my_alerts
from wraparound.apps.records import audit


def home(request):
    user = request.user
    context = {}
    if user.role_info.direct_care:
        context["tasks"] = Task.objects.filter(assignee=user, done_at=None).select_related(
            "patient"
        )[:10]
        context["alerts"] = my_alerts(user)[:10]
        # The lists name patients, so the page is audited like any other list.
        audit.record(request, action="read", what="home: my alerts and tasks")
    return render(request, "records/home.html", context)
