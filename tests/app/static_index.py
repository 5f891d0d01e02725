"""WhiteNoise's index of the static files, built once per test process instead of once per
test client.

``WhiteNoiseMiddleware`` (wraparound/web/settings.py) lists and stats every static file the
finders know (about 1,400, most of them NHS.UK frontend's) when it is constructed; a server
process does that once at start-up. Django's test client builds its own middleware chain, so
every ``Client`` (pytest-django's ``client`` fixture, one per test, and the fuzz test's one per
request) paid that scan again: about 0.15 s of CPU each, which was most of a fuzzed request's
cost. Here the first middleware of a process indexes the files and the later ones with the
same static settings take a copy of its index. The middleware, its lookup and the responses
it serves are WhiteNoise's own; only the repeated directory walk is gone (the files do not
change during a test run).
"""

from __future__ import annotations

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware

# Everything the index depends on: where the files are and the headers each one is built with.
SETTINGS = (
    "INSTALLED_APPS",
    "STATICFILES_DIRS",
    "STATICFILES_FINDERS",
    "STATIC_ROOT",
    "STATIC_URL",
    "STORAGES",
    "WHITENOISE_MAX_AGE",
    "WHITENOISE_CHARSET",
    "WHITENOISE_MIMETYPES",
    "WHITENOISE_ADD_HEADERS_FUNCTION",
    "WHITENOISE_INDEX_FILE",
    "WHITENOISE_IMMUTABLE_FILE_TEST",
    "WHITENOISE_ALLOW_ALL_ORIGINS",
    "WHITENOISE_ROOT",
)
_indexes: dict[str, dict] = {}
_walk = WhiteNoiseMiddleware.add_files_from_finders


def _add_files_from_finders_once(self: WhiteNoiseMiddleware) -> None:
    where = tuple(getattr(settings, name, None) for name in SETTINGS)
    key = repr((self.static_prefix, self.max_age, self.charset, *where))
    index = _indexes.get(key)
    if index is None:
        _walk(self)
        _indexes[key] = dict(self.files)
    else:
        self.files.update(index)


def install() -> None:
    WhiteNoiseMiddleware.add_files_from_finders = _add_files_from_finders_once
