"""WSGI entry point for production servers (gunicorn: ``wraparound.web.wsgi:application``).

Once Django is set up, every object alive (modules, settings, URL patterns, the vocabularies
and data files read at import) is moved out of the garbage collector's generations
(``gc.freeze``): they live as long as the worker, and without this a full collection walks
all of them, a pause of tens to hundreds of milliseconds that stalls every thread of the
worker and shows as the slowest requests under load (docs/benchmarks.md, ``bench_rush``).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wraparound.web.settings")
application = get_wsgi_application()
gc.collect()
gc.freeze()
