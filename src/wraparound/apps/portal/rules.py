"""The portal's data files (``data/portal/``): proofing levels and what each may do, what
practices show online, and proxy access (scopes, longest grant, child ages)."""

from __future__ import annotations

import functools
import tomllib

from wraparound.clinical import package_data_dir


class PortalRulesError(ValueError):
    """A portal data file is malformed."""


def _load(name: str) -> dict:
    with package_data_dir().joinpath("portal", name).open("rb") as f:
        return tomllib.load(f)


@functools.cache
def proofing() -> dict:
    data = _load("proofing.toml")
    known = set(data.get("capabilities") or ())
    levels = data.get("level") or {}
    if not known or not levels:
        raise PortalRulesError("proofing.toml needs [capabilities] and [level.*]")
    for code, level in levels.items():
        unknown = set(level.get("capabilities", ())) - known
        if unknown or "label" not in level:
            raise PortalRulesError(f"[level.{code}]: a label and known capabilities ({unknown})")
    return data


def capabilities(level: str) -> frozenset[str]:
    """What a patient signed in at ``level`` may do; an unknown level may do nothing."""
    spec = proofing()["level"].get(level)
    return frozenset(spec["capabilities"]) if spec else frozenset()


def level_known(level: str) -> bool:
    return level in proofing()["level"]


def check_visibility(data: dict) -> dict:
    categories = set(data.get("categories") or ())
    for where, spec in [("default", data.get("default") or {})] + [
        (f"practice.{k}", v) for k, v in (data.get("practice") or {}).items()
    ]:
        unknown = set(spec.get("show", ())) - categories
        if unknown:
            raise PortalRulesError(f"[{where}] shows unknown categories {sorted(unknown)}")
    return data


@functools.cache
def visibility() -> dict:
    return check_visibility(_load("online_visibility.toml"))


def shown_categories(practice_id: str | None, data: dict | None = None) -> frozenset[str]:
    """The categories shown online for a practice's patients (``data``: the file's)."""
    data = data if data is not None else visibility()
    spec = (data.get("practice") or {}).get(practice_id or "", data["default"])
    return frozenset(spec.get("show", ()))


# A proxy's scope allows these capabilities of the proxy's own level.
SCOPE_CAPABILITIES = {
    "appointments": {"appointments"},
    "record": {"record", "download"},
    "care_plan": {"care_plan"},
}


@functools.cache
def proxy_rules() -> dict:
    data = _load("proxy.toml")
    if set(data.get("scopes") or ()) - set(SCOPE_CAPABILITIES):
        raise PortalRulesError("proxy.toml names a scope the portal does not know")
    child = data.get("child") or {}
    for key in ("parent_access_under", "review_from", "review_to", "own_access_from"):
        if not isinstance(child.get(key), int):
            raise PortalRulesError(f"[child] {key} must be a whole number of years")
    return data
