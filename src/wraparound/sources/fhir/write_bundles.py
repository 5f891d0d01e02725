"""The sample of transaction Bundles that ``synth --format fhir`` writes beside the NDJSON.

Each sampled patient gets one ``transaction`` Bundle holding the same resource dicts as the
NDJSON files (same ids, same meta), so loading both is harmless. Entries are ``PUT <Type>/<id>``
with ``fullUrl`` ``<FULL_URL_BASE>/<Type>/<id>``: a PUT keeps the logical ids (a POST would let
a server mint new ones), and relative references inside the resources then resolve against the
entries. The organisations, practitioner roles and practitioners the patient's resources refer
to are included too (parents before children), so every Bundle loads on its own into an empty
warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from wraparound.sources.fhir.mapping import FULL_URL_BASE
from wraparound.sources.fhir.write_people import Built


def _references(value: object) -> Iterator[str]:
    """Every ``reference`` string inside a resource, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


class BundleSample:
    """Collects the first ``limit`` patients (in the order they are written) and their resources.

    Patients' resources arrive in the same chunk as the Patient, so collecting stops after the
    chunk that completes the sample (``close_if_full``) and costs nothing for the rest.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.collecting = limit > 0
        self.patients: dict[str, list[dict]] = {}  # patient logical id -> its resources
        self.shared: dict[str, dict] = {}  # "Type/id" -> Organization, PractitionerRole, ...

    def add(self, built: Built) -> None:
        """Keep what the sample needs from one builder's output."""
        if not self.collecting:
            return
        if built.patients is None:
            for r in built.resources:
                self.shared[f"{r['resourceType']}/{r['id']}"] = r
            return
        if built.resource_type == "Patient":
            for patient in built.patients[: self.limit - len(self.patients)]:
                self.patients[patient] = []
        sample = self.patients
        for resource, patient in zip(built.resources, built.patients, strict=True):
            if patient in sample:
                sample[patient].append(resource)

    def close_if_full(self) -> None:
        """Stop collecting once the sample is complete (call between chunks)."""
        if len(self.patients) >= self.limit:
            self.collecting = False

    def write(self, directory: Path) -> list[Path]:
        """One ``Patient-<id>.json`` transaction Bundle per sampled patient."""
        written: list[Path] = []
        if self.patients:
            directory.mkdir(parents=True, exist_ok=True)
        for patient, resources in self.patients.items():
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_entry(r) for r in self._closure(resources) + resources],
            }
            path = directory / f"Patient-{patient}.json"
            path.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")
            written.append(path)
        return written

    def _closure(self, resources: list[dict]) -> list[dict]:
        """The shared resources ``resources`` refer to, transitively, each after its own
        references (so a reader that resolves in order never meets a forward reference)."""
        seen: set[str] = set()
        out: list[dict] = []

        def visit(reference: str) -> None:
            if reference in seen or reference not in self.shared:
                return
            seen.add(reference)
            for child in _references(self.shared[reference]):
                visit(child)
            out.append(self.shared[reference])

        for resource in resources:
            for reference in _references(resource):
                visit(reference)
        return out


def _entry(resource: dict) -> dict:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": f"{FULL_URL_BASE}/{url}",
        "resource": resource,
        "request": {"method": "PUT", "url": url},
    }
