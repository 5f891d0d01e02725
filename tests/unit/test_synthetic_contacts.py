"""Synthetic contact details are fake but plausible and can reach nobody: mobiles only in
Ofcom's drama range (07700 900000 to 07700 900999), emails only at the reserved example
domains, none for young children, most adults with both; and they flow into the FHIR
Patient's telecom the way ingest reads it back."""

from __future__ import annotations

import re

import numpy as np

from wraparound.sources.fhir.identity import _telecom
from wraparound.sources.fhir.write_people import patients as fhir_patients
from wraparound.sources.synthetic.contacts import EMAIL_DOMAINS, draw_contacts
from wraparound.sources.synthetic.generator import generate

DRAMA = re.compile(r"^07700 900\d{3}$")


def test_contacts_are_in_the_reserved_ranges_and_by_age():
    rng = np.random.default_rng(7)
    n = 4000
    age = np.concatenate(
        [np.full(1000, 5), np.full(1000, 15), np.full(1000, 40), np.full(1000, 85)]
    )
    given = np.array(["Anne-Marie"] * n)
    family = np.array(["O'Neill"] * n)
    phones, emails = draw_contacts(given, family, age, rng)
    assert all(p is None for p in phones[:1000]) and all(e is None for e in emails[:1000])
    assert all(DRAMA.match(p) for p in phones if p is not None)
    for e in emails:
        if e is not None:
            local, domain = e.split("@")
            assert domain in EMAIL_DOMAINS and re.fullmatch(r"annemarie\.oneill\d{1,2}", local)
    adults = phones[2000:3000]
    assert 0.85 < sum(p is not None for p in adults) / 1000 < 0.97
    assert 0.75 < sum(e is not None for e in emails[2000:3000]) / 1000 < 0.9
    assert sum(e is not None for e in emails[3000:]) < sum(e is not None for e in emails[2000:3000])


def test_the_generator_gives_identities_contacts_and_fhir_telecom_reads_back():
    chunk = next(generate(300, seed=5, years=1))
    ids = chunk.identities
    phones = ids.column("phone").to_pylist()
    emails = ids.column("email").to_pylist()
    assert sum(p is not None for p in phones) > 150 and sum(e is not None for e in emails) > 100
    assert all(DRAMA.match(p) for p in phones if p)
    assert all(e.rsplit("@", 1)[1] in EMAIL_DOMAINS for e in emails if e)
    # the analytics tables carry none of it
    for name, table in chunk.tables.items():
        assert not {"phone", "email", "telecom"} & set(table.column_names), name
    pts = chunk.tables["patients"]
    ident = dict(zip(ids.column("id").to_pylist(), zip(phones, emails, strict=True), strict=True))

    class Refs:
        def organisation(self, ods):
            return {"reference": f"Organization/{ods}"}

    [built] = fhir_patients(pts, Refs(), {}, {}, telecoms=ident)
    for res in built.resources:
        phone, email = ident[res["id"]]
        assert _telecom(res.get("telecom"), "phone") == phone
        assert _telecom(res.get("telecom"), "email") == email
