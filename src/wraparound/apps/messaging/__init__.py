"""Messages to patients.

For other apps (portal, outreach, feedback, triage, access), the stable API is:

    from wraparound.apps.messaging.api import send_message, MessagingError
    message = send_message(patient=p, template="appointment_booked",
                           personalisation={...}, channel="preferred",
                           purpose="appointment", sender=request.user, reference="")

It returns the saved ``models.Message`` whatever happened: ``status`` is ``sent``,
``undeliverable`` (``reason`` says why: no contact detail, a channel the patient refused, a
purpose not for direct care to an opted-out patient, the patient has died) or ``failed`` (the
backend refused). Templates and purposes are data, ``data/messages/templates.toml``
(docs/clinical-content.md); a caller's mistake (unknown template or purpose, a placeholder
without a value) raises ``MessagingError`` and records nothing.

Also: ``api.contact_for(patient)`` and ``api.set_preferences(patient, **fields)`` (the
patient's ``models.ContactPreference``: phone, email, address, postcode, preferred channel,
no SMS / no email, large print, easy read, interpreter language);
``contacts.sync_from_identity(warehouse)`` fills contact details from the identity table;
``models.Message.objects.filter(patient=...)`` for a patient's messages. The staff outbox
page is ``/messages/`` (``messages_outbox``).

The backend is configuration (``WRAPAROUND_MESSAGING_BACKEND``): ``outbox`` writes one JSON
line a message to ``WRAPAROUND_MESSAGING_OUTBOX/messages.jsonl``; ``notify`` sends through
GOV.UK Notify's client and refuses Notify's real address under tests and debug.
"""
