"""Security headers and the login wall.

Django 5.2 has no built-in Content Security Policy, and the policy here is one fixed string
(every script and stylesheet is a static file, no inline code), so a few lines of middleware
are simpler than a dependency. Everything except the login page and static files needs a
signed-in user; making that the default means a new view cannot be left open by mistake.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login

# /public/: published, disclosure-controlled practice figures (apps/scorecard/public_views).
# /fhir/: the access API, authenticated by bearer tokens (apps/access/tokens.py).
# /feedback/: one-time Friends and Family Test links (apps/feedback/views.py), as sent by SMS.
# /portal/: the patient portal, behind its own sign-in (NHS login; apps/portal/session.py).
# /self-referral/: the public self-referral forms, rate-limited (apps/triage/public_views.py).
OPEN_PATHS = (
    "/login/",
    "/static/",
    "/healthz",
    "/public/",
    "/fhir/",
    "/feedback/",
    "/portal/",
    "/self-referral/",
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Patient data must not linger in shared caches or the browser's back button.
            response.setdefault("Cache-Control", "no-store")
        return response


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated and not request.path.startswith(OPEN_PATHS):
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
