"""Setting a hub up: the ``Hub`` for a hub organisation, with the default opening hours
(``data/access/hub_defaults.toml``) and a first site, so the demo, tests and an
administrator start from the same shape."""

from __future__ import annotations

from wraparound.apps.access.models import Hub, Site
from wraparound.apps.access.rules import hub_defaults
from wraparound.apps.records.models import Organisation


def create_hub(organisation: Organisation, site_name: str = "") -> Hub:
    """The hub for ``organisation`` (kind ``hub``, its parent the neighbourhood it serves),
    made once: calling it again returns the same hub."""
    if organisation.kind != "hub" or organisation.parent is None:
        raise ValueError(f"{organisation.org_id} is not a hub within a neighbourhood")
    defaults = hub_defaults()
    hub, made = Hub.objects.get_or_create(
        organisation=organisation,
        defaults={
            "neighbourhood": organisation.parent,
            "name": organisation.name,
            "opening_hours": defaults["opening_hours"],
            "bank_holiday_hours": defaults["bank_holiday_hours"],
        },
    )
    if made:
        Site.objects.create(hub=hub, name=site_name or f"{organisation.name} (main site)")
    return hub
