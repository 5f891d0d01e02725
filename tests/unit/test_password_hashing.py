"""The production password hasher, checked on the settings module itself: the app tests sign
in with a cheaper Argon2 (tests/app/quick_hasher.py), so what production hashes with is
asserted here."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.utils.module_loading import import_string

from wraparound.web import settings as production


def test_production_hashes_passwords_with_full_cost_argon2id():
    assert production.PASSWORD_HASHERS == ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    hasher = import_string(production.PASSWORD_HASHERS[0])()
    assert type(hasher) is Argon2PasswordHasher
    encoded = hasher.encode("correct horse battery staple", hasher.salt())
    assert encoded.startswith("argon2$argon2id$")
    decoded = hasher.decode(encoded)
    # OWASP's least for Argon2id is 19 MiB and two passes; Django's default is 100 MiB.
    assert decoded["memory_cost"] >= 19 * 1024 and decoded["time_cost"] >= 2
    assert hasher.verify("correct horse battery staple", encoded)
    assert not hasher.verify("wrong", encoded)
