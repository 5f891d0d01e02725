"""WSGI entry point for production servers (gunicorn: ``wraparound.web.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wraparound.web.settings")
application = get_wsgi_application()
