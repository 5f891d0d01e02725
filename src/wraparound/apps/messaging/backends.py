"""Where a message goes once it is made: the local outbox (the demo and tests) or GOV.UK Notify
(production), chosen by ``WRAPAROUND_MESSAGING_BACKEND``.

No test can send a real message: the outbox writes a file and nothing else, and the Notify
backend refuses to start without ``WRAPAROUND_NOTIFY_API_KEY`` and, under pytest or
``WRAPAROUND_DEBUG``, refuses Notify's real address whatever the key (so a test can only talk
to a server it started itself).
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

from django.utils import timezone

from wraparound import config
from wraparound.config import ConfigurationError

NOTIFY_PRODUCTION_HOST = "api.notifications.service.gov.uk"


class SendError(RuntimeError):
    """The backend could not hand the message over (the message is recorded as failed)."""


def letter_address(name: str, address: str, postcode: str) -> dict[str, str]:
    """Notify's letter address: the name first, up to six lines, the postcode last
    (``address_line_1`` ... ``address_line_7``)."""
    lines = [name, *[x.strip() for x in address.splitlines() if x.strip()][:5], postcode]
    return {f"address_line_{i}": line for i, line in enumerate(lines, start=1)}


class OutboxBackend:
    """Writes what would be sent, one JSON line a message, to ``OUTBOX/messages.jsonl``."""

    name = "outbox"

    def __init__(self, settings: config.Settings):
        self.path = settings.outbox_dir / "messages.jsonl"

    def send(self, message, variant, notify_personalisation: dict) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "id": message.pk,
            "at": timezone.now().isoformat(),
            "channel": message.channel,
            "to": message.to,
            "template": message.template,
            "notify_template_id": variant.notify_id,
            "personalisation": notify_personalisation,
            "subject": message.subject,
            "body": message.body,
            "adjustments": message.adjustments,
            "purpose": message.purpose,
            "reference": message.reference,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return f"outbox-{message.pk}"


def _guarded() -> bool:
    return "pytest" in sys.modules or config.current().debug


class NotifyBackend:
    """GOV.UK Notify through its own client (``notifications-python-client``)."""

    name = "notify"

    def __init__(self, settings: config.Settings):
        from notifications_python_client.notifications import NotificationsAPIClient

        if not settings.notify_api_key:
            raise ConfigurationError(
                "WRAPAROUND_NOTIFY_API_KEY must be set for the notify messaging backend"
            )
        host = urlsplit(settings.notify_base_url).hostname or ""
        if _guarded() and host == NOTIFY_PRODUCTION_HOST:
            raise ConfigurationError(
                "the notify messaging backend refuses GOV.UK Notify's real address under tests "
                "or WRAPAROUND_DEBUG: set WRAPAROUND_NOTIFY_BASE_URL to a local server"
            )
        self.client = NotificationsAPIClient(
            settings.notify_api_key, base_url=settings.notify_base_url, timeout=10
        )

    def send(self, message, variant, notify_personalisation: dict) -> str:
        from notifications_python_client.errors import APIError

        reference = message.reference or f"wraparound-{message.pk}"
        try:
            if message.channel == "sms":
                out = self.client.send_sms_notification(
                    phone_number=message.to,
                    template_id=variant.notify_id,
                    personalisation=notify_personalisation,
                    reference=reference,
                )
            elif message.channel == "email":
                out = self.client.send_email_notification(
                    email_address=message.to,
                    template_id=variant.notify_id,
                    personalisation=notify_personalisation,
                    reference=reference,
                )
            else:
                out = self.client.send_letter_notification(
                    template_id=variant.notify_id,
                    personalisation=notify_personalisation,
                    reference=reference,
                )
        except (APIError, OSError) as exc:
            raise SendError(f"GOV.UK Notify refused or failed: {exc}"[:300]) from exc
        return str(out.get("id", ""))


BACKENDS = {"outbox": OutboxBackend, "notify": NotifyBackend}


def backend(settings: config.Settings | None = None):
    """The configured backend; an unknown name is refused naming the variable."""
    settings = settings or config.current()
    try:
        factory = BACKENDS[settings.messaging_backend]
    except KeyError:
        raise ConfigurationError(
            f"WRAPAROUND_MESSAGING_BACKEND must be outbox or notify, "
            f"not {settings.messaging_backend!r}"
        ) from None
    return factory(settings)
