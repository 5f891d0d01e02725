"""The directory of services: the reviewed demo file imports, again without change; ORUK
JSON and CSV through the command; a bad file is refused whole with each problem named;
search by need (free text, taxonomy), place and eligibility against the patient's record,
an ineligible service saying why."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner
from worlds import fresh_patient

from wraparound.apps.records.models import Organisation
from wraparound.apps.referrals import directory
from wraparound.apps.referrals.models import Service
from wraparound.cli import app

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

CSV = (
    "id,name,organization_name,sector,specialty,taxonomy,locality,minimum_age,sex,"
    "conditions,opening_times,referral_routes,triage_days,capacity_status,capacity_updated\n"
    "csv-foot,Diabetic foot clinic,Podiatry Ltd,nhs,community,health/community/diabetes,"
    'Dudley,18,,diabetes,"monday-friday 09:00-17:00",referral;bookable,3,limited,'
    "2026-11-30T09:00:00+00:00\n"
)


def test_demo_file_covers_both_localities_and_imports_idempotently():
    first = directory.import_demo()
    assert first["created"] >= 40 and first["updated"] == 0
    assert directory.import_demo() == {"created": 0, "updated": 0, "unchanged": sum(first.values())}
    names = set(Service.objects.values_list("name", flat=True))
    trafford = {s.name for s in Service.objects.filter(locality="Trafford")}
    for need in ("Minor surgery", "Phlebotomy", "ECG", "MSK service", "District nursing"):
        assert need in trafford
    for need in ("Ophthalmology", "Rheumatology", "Urology", "Dudley Talking Therapies"):
        assert need in names
    assert set(Service.objects.values_list("sector", flat=True)) == {
        "nhs",
        "social_care",
        "voluntary",
    }
    derm = Service.objects.get(service_id="dud-derm")
    assert derm.org.kind == "service" and derm.takes("advice_and_guidance")
    assert derm.status_updated is not None and derm.advice_days == 2


def test_command_imports_csv_and_refuses_a_bad_file_whole(tmp_path):
    good = tmp_path / "services.csv"
    good.write_text(CSV)
    # The command's success path migrates, which the test database's transaction cannot:
    # the same function it calls after its checks.
    assert directory.import_file(good) == {"created": 1, "updated": 0, "unchanged": 0}
    foot = Service.objects.get(service_id="csv-foot")
    assert foot.capacity == "limited" and foot.conditions == ["diabetes"]
    assert [h["weekday"] for h in foot.opening_times][-1] == "friday"
    assert directory.import_file(good) == {"created": 0, "updated": 0, "unchanged": 1}

    services = json.loads((directory.package_data_dir() / directory.DEMO_FILE).read_text())[
        "services"
    ][:3]
    services[1]["eligibilitys"][0]["minimum_age"] = "old"
    services[2]["service_taxonomys"] = [{"taxonomy": {"id": "astrology"}}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"services": services}))
    before = (Service.objects.count(), Organisation.objects.count())
    run = CliRunner().invoke(app, ["app", "directory-import", str(bad)])
    assert run.exit_code == 2
    assert "minimum_age must be a whole number" in run.output
    assert "taxonomy term 'astrology'" in run.output
    assert "Traceback" not in run.output
    assert (Service.objects.count(), Organisation.objects.count()) == before
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    run = CliRunner().invoke(app, ["app", "directory-import", str(broken)])
    assert run.exit_code == 2 and "not valid JSON" in run.output


def test_search_by_need_taxonomy_place_and_eligibility():
    directory.import_demo()
    names = lambda hits: [h.service.name for h in hits]  # noqa: E731
    assert "Dermatology advice and referral" in names(directory.search("skin"))
    assert set(names(directory.search(term="health/specialist/dermatology"))) == {
        "Dermatology advice and referral",
        "Community dermatology",
    }
    assert names(directory.search("dermatology", locality="Trafford")) == ["Community dermatology"]
    assert names(directory.search(postcode="DY8 1AA", locality="Dudley"))  # Corbett, DY8
    assert all(h.service.postcode.startswith("DY8") for h in directory.search(postcode="DY8"))
    assert directory.search("no such service anywhere") == []

    patient = fresh_patient(at_gp_practice=True)  # born 1950, female, no registers
    by_id = {h.service.service_id: h for h in directory.search(patient=patient)}
    assert by_id["dud-derm"].eligible
    assert any("aged 17 and under" in w for w in by_id["traf-paeds"].why_not)
    assert any("Diabetes" in w and "register" in w for w in by_id["dud-diabetes"].why_not)
    patient.sex = "male"
    assert "for female patients only" in directory.eligibility(
        Service.objects.get(service_id="dud-gynae"), patient
    )
    hits = directory.search(patient=patient)
    assert hits[0].eligible and not hits[-1].eligible  # eligible first
    assert all(h.eligible for h in directory.search(patient=patient, eligible_only=True))
    area = Service.objects.get(service_id="dud-derm")
    area.areas = ["U99999"]
    assert directory.eligibility(area, patient) == [
        "the patient's neighbourhood is outside the service's area"
    ]
