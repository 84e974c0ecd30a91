"""Shared helpers of the fleet tests: synthetic offices, a manifest written for them, sandbox dumps."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

# Server-side stamps a rollback cannot (and need not) restore (as tests/migration/_engine_helpers).
_VOLATILE = {"dateAdded", "dateUpdated", "updatedAt", "createdAt", "lastStatusChangeAt", "lastStageChangeAt"}

#: The sandbox's scaled window (100 requests per 100 ms) and a short search lag, given to every office.
SCALED_DEFAULTS = {"rate_max": 100, "rate_window_ms": 100, "concurrency": 4}
FAST_POLICIES = {"search_lag_s": 0.06, "ambiguous_lookup_s": 5.0}


def exports(root: Path, names: Sequence[str], *, patients: int = 8) -> dict[str, Path]:
    out = {}
    for seed, name in enumerate(names, start=11):
        path = root / "exports" / name
        write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path)
        out[name] = path
    return out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_manifest(
    path: Path,
    offices: Sequence[Mapping[str, Any]],
    *,
    base_url: str | None = None,
    agency: Mapping[str, Any] | None = None,
    policies: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Path:
    """A fleet manifest (TOML) at ``path``; each office mapping may hold a ``policies`` mapping."""
    lines = ["[defaults]"]
    for key, value in {
        **SCALED_DEFAULTS,
        **({"base_url": base_url} if base_url else {}),
        **(defaults or {}),
    }.items():
        lines.append(f"{key} = {_value(value)}")
    lines.append("[defaults.policies]")
    for key, value in {**FAST_POLICIES, **(policies or {})}.items():
        lines.append(f"{key} = {_value(value)}")
    if agency is not None:
        lines.append("[agency]")
        lines += [f"{key} = {_value(value)}" for key, value in agency.items()]
    for office in offices:
        lines.append("[[office]]")
        lines += [f"{k} = {_value(v)}" for k, v in office.items() if k != "policies"]
        if office.get("policies"):
            lines.append("[office.policies]")
            lines += [f"{k} = {_value(v)}" for k, v in office["policies"].items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def normalised(dump: dict[str, Any]) -> dict[str, Any]:
    """A dump without server timestamps and with None-valued keys dropped (HighLevel omits unset fields)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in _VOLATILE and v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(copy.deepcopy(dump))  # type: ignore[no-any-return]
