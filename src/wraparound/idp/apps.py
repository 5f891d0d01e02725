from django.apps import AppConfig


class IdpConfig(AppConfig):
    """The local OpenID Connect provider's accounts and client keys."""

    name = "wraparound.idp"
    label = "idp"
    default_auto_field = "django.db.models.BigAutoField"
