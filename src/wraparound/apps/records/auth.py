"""Sign-in with lock-out by django-axes: after ``AXES_FAILURE_LIMIT`` wrong passwords for a
username the account is locked for ``AXES_COOLOFF_TIME``, and while it is locked even the
right password is refused (so guessing cannot continue).

Axes checks whether an account is locked before the password and counts a failure after
it, so on its own parallel guesses could all pass the check before the first is counted.
Each attempt therefore runs check, password and count under one lock per username: a
PostgreSQL advisory lock held to the end of the transaction, or on SQLite the database's
write lock (every transaction begins ``IMMEDIATE``). At most the limit of passwords is ever
checked.

A wrong password, an unknown username, an inactive and a locked account all get the same
answer, so the form tells a guesser nothing; the audit trail records which it was."""

from __future__ import annotations

import contextlib
import zlib
from typing import ClassVar

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from wraparound.apps.records import audit
from wraparound.apps.records.models import User

REFUSED_MESSAGE = (
    "Your username or password was not recognised, or the account is locked after "
    "repeated failed sign-ins. Check them and try again later, or ask an administrator."
)
SIGN_IN_LOCK = 0x7369676E  # "sign": the advisory-lock namespace for sign-in attempts


@contextlib.contextmanager
def attempt_lock(username: str):
    """Serialise sign-in attempts for one username (see the module docstring)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            key = zlib.crc32(username.lower().encode()) - 2**31  # a signed 32-bit int
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SIGN_IN_LOCK, key])
        yield


class LockoutAuthenticationForm(AuthenticationForm):
    error_messages: ClassVar[dict[str, str]] = {
        **AuthenticationForm.error_messages,
        "invalid_login": REFUSED_MESSAGE,
        "inactive": REFUSED_MESSAGE,
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password") or ""
        if not username or not password:
            return super().clean()
        with attempt_lock(username):
            credentials = {"username": username}
            locked = not AxesProxyHandler.is_allowed(self.request, credentials)
            if locked:
                make_password(password)  # as long as a real check, like an unknown username
            try:
                return super().clean()
            except ValidationError as refused:
                # Raised after the block, which would otherwise roll back what axes counted.
                error = refused
                self._audit_refusal(username, credentials, locked)
        raise error

    def _audit_refusal(self, username: str, credentials: dict, locked: bool) -> None:
        account = User.objects.filter(username=username).first()
        if locked:
            action, what = "login_locked", "sign-in refused: account locked"
        elif account is None:
            action, what = "login_failed", "unknown username"
        else:
            failures = AxesProxyHandler.get_failures(self.request, credentials)
            action, what = "login_failed", f"wrong password ({failures} in a row)"
            if failures >= settings.AXES_FAILURE_LIMIT:
                what += "; account locked"
        audit.record(self.request, action=action, what=what, outcome="denied", user=account)


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(self.request, action="login", what="signed in")
        return response
