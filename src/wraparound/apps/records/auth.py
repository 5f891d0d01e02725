"""Sign-in with lock-out: after ``LOCKOUT_FAILURES`` wrong passwords in a row the account is
locked for ``LOCKOUT_MINUTES``, and while it is locked even the right password is refused
(so guessing cannot continue). Failures, lock-outs and sign-ins are audited."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from wraparound.apps.records import audit
from wraparound.apps.records.models import User

LOCKED_MESSAGE = (
    "This account is locked after repeated failed sign-ins. Try again later "
    "or ask an administrator to unlock it."
)


class LockoutAuthenticationForm(AuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username", "")
        account = User.objects.filter(username=username).first()
        if account and account.locked_until and account.locked_until > timezone.now():
            audit.record(
                self.request,
                action="login_locked",
                what="sign-in refused: locked",
                outcome="denied",
                user=account,
            )
            raise ValidationError(LOCKED_MESSAGE, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            if account:
                self._count_failure(account)
            else:
                audit.record(
                    self.request, action="login_failed", what="unknown username", outcome="denied"
                )
            raise
        User.objects.filter(pk=self.user_cache.pk).update(failed_logins=0, locked_until=None)
        return cleaned

    def _count_failure(self, account: User) -> None:
        User.objects.filter(pk=account.pk).update(failed_logins=F("failed_logins") + 1)
        account.refresh_from_db(fields=["failed_logins"])
        what = f"wrong password ({account.failed_logins} in a row)"
        if account.failed_logins >= settings.LOCKOUT_FAILURES:
            until = timezone.now() + dt.timedelta(minutes=settings.LOCKOUT_MINUTES)
            User.objects.filter(pk=account.pk).update(locked_until=until, failed_logins=0)
            what += "; account locked"
        audit.record(self.request, action="login_failed", what=what, outcome="denied", user=account)


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(self.request, action="login", what="signed in")
        return response
