"""Send a message to a patient: the one entry point other apps call.

    from wraparound.apps.messaging.api import send_message, MessagingError

    message = send_message(
        patient=patient,                    # records.Patient
        template="appointment_booked",      # an id in data/messages/templates.toml
        personalisation={"place": ..., "when": ..., "how_to_change": ...},
        channel="preferred",                # or "sms" | "email" | "letter"
        purpose="appointment",              # a [purposes.ID] of the same file
        sender=request.user,                # or None for the system
        reference="TRI-ABC123",             # optional: the caller's own reference
    )
    message.status   # "sent" | "undeliverable" | "failed";  message.reason says why not

What it honours, in order (the first that stops a message records it as undeliverable with
the reason; nothing is ever dropped silently):

- the patient has died;
- the purpose is not direct care (``direct_care = false``) and the patient opted out (the
  national data opt-out does not restrict messages for the patient's own care);
- the patient's contact preferences (``models.ContactPreference``): a channel they refused
  (no SMS, no email), no contact detail for any channel the template has. ``"preferred"``
  tries the patient's preferred channel first, then SMS, email, letter; a named channel is
  that channel only;
- reasonable adjustments: easy read takes the template's ``easy_read_body`` where it has one;
  large print and an interpreter's language are recorded on the message (``adjustments``)
  and passed to the backend.

``((name))`` is filled from the patient when the caller does not give it. A placeholder left
without a value, an unknown template, purpose or channel raises :class:`MessagingError` (a
caller's mistake, not a patient's circumstance) and records nothing.

The backend (``backends.py``) is set by ``WRAPAROUND_MESSAGING_BACKEND``: ``outbox`` (demo and
tests: the message is recorded and written to ``OUTBOX/messages.jsonl``) or ``notify``
(GOV.UK Notify). Also exported: :func:`contact_for` (a patient's preferences, unsaved
defaults when none are recorded) and :func:`set_preferences`.
"""

from __future__ import annotations

from django.db import transaction

from wraparound.apps.messaging import backends
from wraparound.apps.messaging.content import CHANNELS, ContentError, Variant, content, render
from wraparound.apps.messaging.models import ContactPreference, Message
from wraparound.apps.records.models import Patient

__all__ = ["MessagingError", "contact_for", "send_message", "set_preferences"]

MessagingError = ContentError

_NO_DETAIL = {
    "sms": "no mobile number recorded",
    "email": "no email address recorded",
    "letter": "no postal address recorded",
}
_REFUSED = {
    "sms": "the patient asked not to be sent text messages",
    "email": "the patient asked not to be sent emails",
}


def contact_for(patient: Patient) -> ContactPreference:
    """The patient's contact preferences (unsaved and empty when none are recorded)."""
    found = ContactPreference.objects.filter(patient=patient).first()
    return found if found is not None else ContactPreference(patient=patient)


def set_preferences(patient: Patient, *, source: str = "staff", **fields) -> ContactPreference:
    """Record contact details or preferences (any field of ``ContactPreference``)."""
    pref, _ = ContactPreference.objects.get_or_create(patient=patient)
    for key, value in fields.items():
        if not hasattr(pref, key) or key in {"id", "patient", "patient_id"}:
            raise MessagingError(f"no contact preference {key!r}")
        setattr(pref, key, value)
    pref.source = source
    pref.save()
    return pref


def _address(pref: ContactPreference, channel: str) -> str:
    if channel == "sms":
        return pref.phone
    if channel == "email":
        return pref.email
    return f"{pref.address}\n{pref.postcode}".strip() if pref.address and pref.postcode else ""


def _choose(pref: ContactPreference, variants: dict[str, Variant], channel: str):
    """(channel, to) or (channel tried, reason)."""
    if channel == "preferred":
        order = [pref.preferred_channel] if pref.preferred_channel else []
        order += [c for c in CHANNELS if c not in order]
        reasons = []
        for c in order:
            if c not in variants:
                continue
            if (c == "sms" and pref.no_sms) or (c == "email" and pref.no_email):
                reasons.append(_REFUSED[c])
                continue
            to = _address(pref, c)
            if to:
                return c, to, ""
            reasons.append(_NO_DETAIL[c])
        return "", "", "; ".join(reasons) or "no channel"
    if (channel == "sms" and pref.no_sms) or (channel == "email" and pref.no_email):
        return channel, "", _REFUSED[channel]
    to = _address(pref, channel)
    return channel, to, "" if to else _NO_DETAIL[channel]


def send_message(
    *,
    patient: Patient,
    template: str,
    personalisation: dict,
    channel: str = "preferred",
    purpose: str,
    sender=None,
    reference: str = "",
) -> Message:
    """Send (or record why not) one message; returns the saved :class:`Message`."""
    c = content()
    if purpose not in c.purposes:
        raise MessagingError(f"unknown message purpose {purpose!r}")
    variants = c.templates.get(template)
    if not variants:
        raise MessagingError(f"unknown message template {template!r}")
    if channel != "preferred" and channel not in variants:
        raise MessagingError(f"template {template!r} has no {channel!r} version")
    values = {"name": f"{patient.given_name} {patient.family_name}", **personalisation}
    values = {k: str(v) for k, v in values.items()}
    for v in variants.values():  # every version must be fillable, whichever is chosen
        render(v.subject + v.body + v.easy_read_body, values)

    pref = contact_for(patient)
    message = Message(
        patient=patient,
        template=template,
        purpose=purpose,
        personalisation=values,
        adjustments=pref.adjustments(),
        sender=sender if sender is not None and sender.is_authenticated else None,
        reference=reference[:64],
    )
    reason = ""
    if patient.death_date:
        reason = "the patient has died"
    elif patient.opted_out and not c.purposes[purpose].direct_care:
        reason = "national data opt-out: this purpose is not the patient's direct care"
    else:
        message.channel, message.to, reason = _choose(pref, variants, channel)
    if reason:
        message.status, message.reason = "undeliverable", reason[:300]
        message.save()
        return message

    variant = variants[message.channel]
    body = variant.body
    if pref.easy_read:
        if variant.easy_read_body:
            body = variant.easy_read_body
        else:
            message.adjustments = [*message.adjustments, "no easy-read version of this template"]
    message.subject = render(variant.subject, values)
    message.body = render(body, values)
    notify_values = dict(values)
    if message.channel == "letter":
        notify_values.update(backends.letter_address(values["name"], pref.address, pref.postcode))
    sender_backend = backends.backend()
    message.backend = sender_backend.name
    message.status, message.reason = "failed", "not yet handed over"
    with transaction.atomic():
        message.save()
    try:
        message.provider_id = sender_backend.send(message, variant, notify_values)[:64]
        message.status, message.reason = "sent", ""
    except backends.SendError as exc:
        message.reason = str(exc)[:300]
    message.save(update_fields=["provider_id", "status", "reason"])
    return message
