"""The run gate: is the plan about to run the one a person approved, and if not, what changed?

``plan_hash`` is ``plan_content_hash`` (``_plan/migration_plan.py``) (the one definition of a plan's
identity, shared with the saved ``MigrationPlan``). Each component is also hashed on its own and kept in
``approval.json`` in the work directory when the plan is approved (hashes only, no values), so a refused run
can name which of maps / options / policies / source changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dentrix_highlevel._errors import PlanChangedError, PlanNotApprovedError
from dentrix_highlevel._private_files import open_private
from dentrix_highlevel.mapping import DefaultMapOptions, FieldMap, map_to_dict
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._plan.migration_plan import options_to_dict, plan_content_hash
from dentrix_highlevel.migration._state.ledger import Ledger

__all__ = ["APPROVAL_FILENAME", "PlanComponents", "check_approved", "plan_components", "save_components"]

APPROVAL_FILENAME = "approval.json"
COMPONENTS = ("maps", "options", "policies", "source")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen
class PlanComponents:
    """The plan hash and the hash of each of its four components."""

    plan_hash: str
    maps: str
    options: str
    policies: str
    source: str

    def changed_from(self, other: Mapping[str, Any]) -> list[str]:
        return [name for name in COMPONENTS if other.get(name) != getattr(self, name)]


def plan_components(
    maps: Mapping[str, FieldMap],
    options: DefaultMapOptions,
    policies: MigrationPolicies,
    source_fingerprint: str,
) -> PlanComponents:
    map_data = {name: map_to_dict(m) for name, m in maps.items()}
    option_data = options_to_dict(options)
    policy_data = policies.to_dict()
    return PlanComponents(
        plan_hash=plan_content_hash(
            maps=map_data, options=option_data, policies=policy_data, source_fingerprint=source_fingerprint
        ),
        maps=_digest(map_data),
        options=_digest(option_data),
        policies=_digest(policy_data),
        source=_digest(source_fingerprint),
    )


def save_components(workdir: Path, components: PlanComponents) -> None:
    with open_private(workdir / APPROVAL_FILENAME) as handle:
        json.dump(attrs.asdict(components), handle, indent=2, sort_keys=True)


def check_approved(ledger: Ledger, workdir: Path, components: PlanComponents) -> None:
    """Refuse unless the ledger's approved plan is this plan; name the changed components otherwise."""
    approved = ledger.approved_plan()
    if approved is None:
        raise PlanNotApprovedError("the migration plan has not been approved: call approve(by=...) first")
    if approved.plan_hash == components.plan_hash:
        return
    try:
        saved = json.loads((workdir / APPROVAL_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    changes = components.changed_from(saved) if saved.get("plan_hash") == approved.plan_hash else []
    what = ", ".join(changes) if changes else "the approved plan's components are not on record"
    raise PlanChangedError(
        f"the plan changed since it was approved by {approved.approved_by} ({what}); "
        "review and approve again",
        changes=changes,
    )
