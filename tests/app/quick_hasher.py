"""The password hasher of the app tests' database: Argon2 (the production hasher's algorithm
and code) at its lowest cost.

Production hashes with Django's ``Argon2PasswordHasher`` (wraparound/web/settings.py; 100 MiB,
two passes, eight lanes), which costs about 0.2 s of CPU a sign-in by design. The app suite
signs in through the real login form several hundred times, on SQLite and again on
PostgreSQL, so at that cost the hashing alone was a large share of its time. Here only the
cost parameters differ: every sign-in still goes through the form, the authentication
backend, the lock-out and the session, and hashes are still ``argon2$argon2id$...``. The
server-process tests (the live lock-out and booking races, the browser journeys) run the
production settings, and tests/unit/test_password_hashing.py checks those settings.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8  # KiB: Argon2's least for one lane
    parallelism = 1


PASSWORD_HASHERS = ["quick_hasher.QuickArgon2PasswordHasher"]
