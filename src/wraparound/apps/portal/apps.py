from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The patient portal under /portal/: an OpenID Connect relying party, my record, my care
    plan, bookings, proxies and who looked at my record."""

    name = "wraparound.apps.portal"
    label = "portal"

    def ready(self) -> None:
        from wraparound.apps.portal.session import proxy_provider
        from wraparound.apps.records.relationships import register_provider

        register_provider("proxy", proxy_provider)
