from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    """The single point of access: a directory of services, advice and guidance, referrals as
    one FHIR ServiceRequest/Task state machine, and the centre's other bookings. Registers
    its relationship providers (one per kind a referral's state names) with the one
    relationship model."""

    name = "wraparound.apps.referrals"
    label = "referrals"

    def ready(self) -> None:
        from wraparound.apps.referrals import relationships

        relationships.register()
