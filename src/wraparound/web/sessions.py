"""The staff session store: Django's database sessions, written less often.

Sessions end after ``SESSION_COOKIE_AGE`` (30 minutes) idle, so every request moves the
expiry on (``SESSION_SAVE_EVERY_REQUEST``). Writing the session row on every page view costs
a write transaction per request, which on SQLite also queues behind every other writer. This
store skips that write while the stored expiry is still within ``REFRESH_SECONDS`` of where
a save now would put it and nothing in the session changed: the session then ends between
29 and 30 minutes after the last request, never later. A changed session (sign-in, sign-out,
a message, anything set in it) is always written at once, and a session that has ended in the
database is gone whatever this store remembers (it is read from the database on each request).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

REFRESH_SECONDS = 60


class SessionStore(DatabaseSessionStore):
    _stored_expiry: dt.datetime | None = None

    def _get_session_from_db(self):
        stored = super()._get_session_from_db()
        self._stored_expiry = stored.expire_date if stored is not None else None
        return stored

    def _expiry_is_fresh(self) -> bool:
        if self._stored_expiry is None or self.session_key is None:
            return False
        left = (self._stored_expiry - timezone.now()).total_seconds()
        return left > self.get_expiry_age() - REFRESH_SECONDS

    def save(self, must_create: bool = False) -> None:
        if not must_create and not self.modified and self._expiry_is_fresh():
            return
        super().save(must_create=must_create)
        self._stored_expiry = self.get_expiry_date()
