"""The provider's URLs: NHS login's sign-in page and the OAuth 2.0 / OpenID Connect endpoints
under /o/ (authorize, token, userinfo, JWKS, discovery)."""

from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
    path("login/", LoginView.as_view(template_name="idp/login.html"), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
