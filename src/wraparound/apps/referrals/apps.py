from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    """The single point of access: a directory of services, advice and guidance, referrals as
    one FHIR ServiceRequest/Task state machine, and the letters back to the practice."""

    name = "wraparound.apps.referrals"
    label = "referrals"
