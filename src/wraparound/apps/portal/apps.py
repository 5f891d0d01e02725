from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The patient portal under /portal/: an OpenID Connect relying party, my record, my care
    plan, bookings, proxies and who looked at my record."""

    name = "wraparound.apps.portal"
    label = "portal"
