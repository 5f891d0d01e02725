"""From a real source's files to the care app, with none of the generator's own files.

A FHIR export (NDJSON, as a bulk export or GP system sends it) and a CSV extract
(docs/csv-format.md) each go through the commands a commissioner runs: ``wraparound
ingest`` -> ``stratify`` -> ``indicators`` -> ``app refresh``. A GP of the right practice
then opens the register and a patient's page, which must show the name and NHS number the
input gave that patient: identity came in through ingest, into the warehouse's direct-care
identity table, not from a side file only the generator writes.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from real_inputs import csv_extract, fhir_export
from typer.testing import CliRunner

from wraparound.cli import app
from wraparound.sources.fhir import mapping as m
from wraparound.warehouse import paths
from wraparound.warehouse.identity import read_identity
from wraparound.warehouse.pseudonym import Pseudonymiser

BIN = str(Path(sys.executable).parent / "wraparound")
PATIENTS = 1000  # the fewest for which the risk model's fit is well conditioned
# Files and folders only the generator writes; a warehouse built by ingest has none.
GENERATOR_ONLY = ("identity", paths.ORACLE_DIR)


def run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done


def fhir_identities(folder: Path) -> dict[str, tuple[str, str]]:
    """NHS number -> (given, family) as the FHIR Patients give them."""
    out = {}
    for line in (folder / "Patient.ndjson").read_bytes().splitlines():
        patient = orjson.loads(line)
        nhs = next(i["value"] for i in patient["identifier"] if i["system"] == m.NHS_NUMBER)
        name = patient["name"][0]
        out[nhs] = (" ".join(name["given"]), name["family"])
    return out


def csv_identities(folder: Path) -> dict[str, tuple[str, str]]:
    with open(folder / "patients.csv", newline="") as fh:
        return {r["nhs_number"]: (r["given_name"], r["family_name"]) for r in csv.DictReader(fh)}


SOURCES = {"fhir": (fhir_export, fhir_identities), "csv": (csv_extract, csv_identities)}


@pytest.fixture(scope="module", params=list(SOURCES))
def loaded(request, tmp_path_factory):
    """(source kind, input folder, warehouse, identities the input gives) after ingest,
    stratify and indicators through the installed command."""
    make, identities = SOURCES[request.param]
    root = tmp_path_factory.mktemp(f"e2e-{request.param}")
    source = make(root, PATIENTS, seed=11)
    assert [p.name for p in root.iterdir()] == [source.name], "only the input is left"
    warehouse = root / "warehouse"
    ingested = run("ingest", str(source), "--warehouse", str(warehouse), "--quiet")
    assert ingested.stdout.startswith("Loaded batch 1")
    run("stratify", "--warehouse", str(warehouse))
    run("indicators", "--warehouse", str(warehouse))
    return request.param, source, warehouse, identities(source)


def test_the_warehouse_holds_identity_only_in_its_direct_care_table(loaded):
    _, source, warehouse, expected = loaded
    assert not any((source / name).exists() for name in GENERATOR_ONLY)
    assert not any((warehouse / name).exists() for name in GENERATOR_ONLY)
    identity = read_identity(warehouse)
    assert identity.num_rows == PATIENTS
    got = {r["nhs_number"]: (r["given_name"], r["family_name"]) for r in identity.to_pylist()}
    assert got == expected
    # The identity rows are keyed by the same pseudonym as the analytics tables' patients.
    pseudo = Pseudonymiser()
    assert {pseudo.nhs_number(n) for n in expected} == set(identity["patient_id"].to_pylist())


@pytest.mark.django_db
def test_register_and_patient_pages_show_the_name_and_nhs_number_from_the_input(
    loaded, client, settings
):
    from wraparound.apps.demo import create_demo_users
    from wraparound.apps.records.models import Patient, User
    from wraparound.apps.registers.models import RegisterEntry, RegisterRun

    _, _, warehouse, expected = loaded
    settings.WAREHOUSE_DIR = str(warehouse)
    refreshed = CliRunner().invoke(app, ["app", "refresh", "--warehouse", str(warehouse)])
    assert refreshed.exit_code == 0, refreshed.output
    result = json.loads(refreshed.output)
    assert result["patients"] == PATIENTS and result["register_run"] is not None
    assert result["patients_without_identity"] == 0
    assert not any((warehouse / name).exists() for name in GENERATOR_ONLY)

    create_demo_users()
    gp = User.objects.get(username="gp")
    assert gp.scope_org.kind == "practice"
    run_ = RegisterRun.objects.get(run_id=result["register_run"])
    entry = (
        RegisterEntry.objects.filter(run=run_, practice=gp.scope_org)
        .order_by("-score")
        .select_related("patient")
        .first()
    )
    assert entry is not None, "the GP's practice has patients on the register"
    patient: Patient = entry.patient
    given, family = expected[patient.nhs_number]
    assert Pseudonymiser().nhs_number(patient.nhs_number) == patient.pseudonym
    shown = f"{patient.nhs_number[:3]} {patient.nhs_number[3:6]} {patient.nhs_number[6:]}"

    client.force_login(gp)
    register = client.get("/register/")
    assert register.status_code == 200
    html = register.content.decode()
    assert f"{given} {family.upper()}" in html and shown in html

    page = client.get(f"/patients/{patient.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{given} {family.upper()}" in html and shown in html

    # A GP of another practice has no relationship with this patient.
    other = type(gp.scope_org).objects.filter(kind="practice").exclude(pk=gp.scope_org.pk).first()
    if other is not None:
        stranger = User.objects.create_user(
            "gp-elsewhere", role="gp", scope="practice", scope_org=other
        )
        client.force_login(stranger)
        assert client.get(f"/patients/{patient.pk}/").status_code in (403, 404)


@pytest.mark.django_db
def test_refresh_of_a_warehouse_without_identity_says_who_is_missing(tmp_path, settings):
    """A warehouse written before the identity table (here: its file removed) still refreshes;
    its patients are not in the app, and the command says so and how to fix it."""
    from wraparound.sources.synthetic.writer import write_synthetic
    from wraparound.warehouse.store import Warehouse

    warehouse = tmp_path / "old"
    write_synthetic(warehouse, patients=60, seed=2, progress=False)
    paths.table_file(warehouse, Warehouse(warehouse).manifest.snapshot, "identity").unlink()
    settings.WAREHOUSE_DIR = str(warehouse)
    refreshed = CliRunner().invoke(app, ["app", "refresh", "--warehouse", str(warehouse)])
    assert refreshed.exit_code == 0, refreshed.output
    assert "Traceback" not in refreshed.output
    assert "note: 60 patients have no NHS number in the warehouse's identity table" in (
        refreshed.output
    )
    result = json.loads(refreshed.output[: refreshed.output.index("note:")])
    assert result["patients"] == 0 and result["patients_without_identity"] == 60
