"""Malformed parameters are the sender's mistake, answered 400 with a message, never a 500.

Views parse what they read from ``request.GET`` and ``request.POST`` with :func:`parse_int`,
:func:`parse_date` and :func:`parse_choice`, which raise Django's ``BadRequest``; Django turns
that into a 400 through :func:`bad_request` (``handler400`` in urls.py), which shows the
message. :class:`BadInputMiddleware` is the net underneath for a view that has not been
converted yet: a ``ValueError`` or ``ValidationError`` escaping a view (an ORM lookup given
``"abc"`` for an id or a date) is answered the same way and logged with its traceback, so it
can still be found and fixed. Parsing happens before a view writes anything, and a view that
fails part-way is inside no transaction of its own, so the fuzz test
(tests/app/test_fuzz_views.py) checks that a refused request changed nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import BadRequest, ValidationError
from django.shortcuts import render

log = logging.getLogger(__name__)


def parse_int(value: str | None, name: str, *, required: bool = False) -> int | None:
    """A whole number (an id, a page, a version), or None when absent and not required."""
    text = (value or "").strip()
    if not text:
        if required:
            raise BadRequest(f"{name} is missing")
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest(f"{name} must be a whole number, not {text[:40]!r}")
    return int(text)


def parse_date(value: str | None, name: str, *, required: bool = False) -> dt.date | None:
    """A date written YYYY-MM-DD, or None when absent and not required."""
    text = (value or "").strip()
    if not text:
        if required:
            raise BadRequest(f"{name} is missing")
        return None
    try:
        if len(text) != 10:  # fromisoformat also takes 20260101 and week dates
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date written YYYY-MM-DD, not {text[:40]!r}") from None


def parse_choice(value: str | None, name: str, choices) -> str:
    """One of ``choices`` (or empty, meaning no choice)."""
    text = (value or "").strip()
    if text and text not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(sorted(choices))}")
    return text


def bad_request(request, exception=None, template_name="400.html"):
    """Django's ``handler400``: the reason, on the app's own page."""
    message = str(exception) if isinstance(exception, BadRequest) and str(exception) else ""
    return render(
        request,
        template_name,
        {"message": message or "The request was not in the expected form."},
        status=400,
    )


class BadInputMiddleware:
    """Answer a ``ValueError`` or ``ValidationError`` raised by a view with a 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ValueError | ValidationError):
            return None
        log.warning("bad input to %s %s", request.method, request.path, exc_info=exception)
        return bad_request(request, BadRequest("A parameter was not in the expected form."))
