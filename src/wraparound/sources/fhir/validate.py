"""Structural validation of FHIR R4 resources with fhirclient's generated R4 (4.0.1) models.

Why fhirclient and not ``fhir.resources``: fhirclient's models are generated from exactly
FHIR 4.0.1, which is what NHS England's UK Core and the Synthea exporters speak, and the project
already depends on it (the writer's tests validate against it). ``fhir.resources`` 8 models
R5, R4B and STU3, not R4 itself.

Why not validate everything: building model objects costs about ten times what the mapping
does (docs/ingest.md gives the figures), so ingest uses it where it pays:

- a resource whose shape breaks the mapping (a list where an object belongs, a string where a
  CodeableConcept belongs) is rejected with the model's precise reason, never a traceback;
- a rejected resource's reason gains the structural problems the model finds, if any;
- ``strict`` mode (``wraparound ingest --strict``) validates every resource of a type that is
  loaded before it is mapped.
"""

from __future__ import annotations

import importlib
import re
from functools import cache

from fhirclient.models.fhirabstractbase import FHIRValidationError

# fhirclient names its modules after the lower-cased resource type.
_NOT_A_TYPE = object()
# fhirclient's messages name Python classes and objects; people want FHIR type names.
_CLASS = re.compile(r"<class '(?:fhirclient\.models\.[a-z0-9_]+\.)?([A-Za-z_]+)'>")
_OBJECT = re.compile(r"<fhirclient\.models\.[a-z0-9_]+\.([A-Za-z]+) object at 0x[0-9a-f]+>")
_PYTHON_TYPES = {"str": "string", "list": "array", "dict": "object", "int": "integer"}


@cache
def _model(resource_type: str):
    try:
        module = importlib.import_module(f"fhirclient.models.{resource_type.lower()}")
    except ImportError:
        return _NOT_A_TYPE
    return getattr(module, resource_type, _NOT_A_TYPE)


def structural_problems(resource: dict, limit: int = 3) -> str | None:
    """The first ``limit`` R4 structural problems of ``resource`` as one sentence, or None
    when it conforms (or its type is not an R4 resource type fhirclient knows)."""
    model = _model(str(resource.get("resourceType")))
    if model is _NOT_A_TYPE:
        return None
    try:
        model(resource, strict=True)
    except FHIRValidationError as exc:
        problems = _flatten(exc)
        text = "; ".join(problems[:limit])
        more = len(problems) - limit
        return text + (f"; and {more} more" if more > 0 else "")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # shapes it cannot walk
        return str(exc) or type(exc).__name__
    return None


def _flatten(exc: FHIRValidationError, path: str = "") -> list[str]:
    """fhirclient nests one error per element; turn them into ``path: message`` lines."""
    here = ".".join(p for p in (path, exc.path) if p)
    out: list[str] = []
    for err in exc.errors:
        if isinstance(err, FHIRValidationError):
            out.extend(_flatten(err, here))
        else:
            message = _tidy(str(err))
            out.append(f"{here}: {message}" if here else message)
    return [p.replace("class_fhir", "class") for p in out] or [_tidy(str(exc))]


def _tidy(message: str) -> str:
    message = _OBJECT.sub(r"\1", message)
    return _CLASS.sub(lambda m: _PYTHON_TYPES.get(m.group(1), m.group(1)), message)
