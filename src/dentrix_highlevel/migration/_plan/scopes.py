"""Which HighLevel operations, and so which token scopes, a migration needs: per feature of its plan.

Each writer declares its feature (``Writer.feature``) and when a plan uses it; the location's own
(settings, tags, the owner record) and the optional workflow check are here. Each feature lists the
operations its steps send (plan, preflight, run, sample, delta, reconcile,
rollback, and the lookups that resolve an interrupted create); the scopes follow from the client's
operation catalogue, whose scopes the contract tests check against HighLevel's official spec.
``tests/migration/test_scopes.py`` records the requests a migration really sends with every feature on
and checks each is declared here, and that the table in ``docs/highlevel-setup.md`` is exactly
:func:`render_scope_table`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dentrix_highlevel.highlevel import Operation
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._engine.writers.base import Feature
from dentrix_highlevel.migration._engine.writers.base import feature as _feature
from dentrix_highlevel.migration._engine.writers.registry import WRITERS

__all__ = [
    "FEATURES",
    "Feature",
    "features_for",
    "render_scope_table",
    "required_operations",
    "required_scopes",
]


LOCATION = _feature(
    "location",
    "the location's time zone, company id and duplicate-contact settings",
    "GET /locations/{locationId}",
)
TAGS = _feature(
    "tags",
    "the tag catalogue before the run; rollback removes the tags the migration added",
    "GET /locations/{locationId}/tags",
    "POST /locations/{locationId}/tags",
    "DELETE /locations/{locationId}/tags/{tagId}",
)
OWNER_RECORD = _feature(
    "owner record",
    "the location custom values that record which migration owns the location (a lost or copied ledger "
    "is refused; recover rebuilds it) and which setup objects it created; rollback deletes them",
    "GET /locations/{locationId}/customValues",
    "POST /locations/{locationId}/customValues",
    "PUT /locations/{locationId}/customValues/{id}",
    "DELETE /locations/{locationId}/customValues/{id}",
)
WORKFLOWS = _feature(
    "workflow check",
    "the preflight lists published workflows that may fire on migrated contacts",
    "GET /workflows/",
    optional=True,
)


def _writer_features() -> tuple[Feature, ...]:
    seen: dict[str, Feature] = {}
    for w in WRITERS:
        if w.feature is not None:
            seen.setdefault(w.feature.name, w.feature)
    return tuple(seen.values())


#: Every feature, in the order the scope table lists them: the location's own, then each writer's (in
#: registry order), then the optional workflow check.
FEATURES: tuple[Feature, ...] = (LOCATION, TAGS, OWNER_RECORD, *_writer_features(), WORKFLOWS)


def features_for(
    policies: MigrationPolicies, maps: Mapping[str, object] | None = None
) -> tuple[Feature, ...]:
    """The features a migration with these policies (and maps, when given) uses: the location's, and
    those of the writers the plan uses (each writer says when)."""
    names = set(maps) if maps is not None else None

    def mapped(name: str) -> bool:
        return names is None or name in names

    used = {
        w.feature.name
        for w in WRITERS
        if w.feature is not None and (w.in_plan is None or w.in_plan(policies, mapped))
    }
    return tuple(f for f in FEATURES if f.name in used or f in (LOCATION, TAGS, OWNER_RECORD, WORKFLOWS))


def required_operations(features: Iterable[Feature]) -> tuple[Operation, ...]:
    seen: dict[str, Operation] = {}
    for feature in features:
        for op in feature.operations:
            seen.setdefault(op.name, op)
    return tuple(seen.values())


def required_scopes(features: Iterable[Feature], *, optional: bool = True) -> tuple[str, ...]:
    """The scopes these features need (``optional=False``: only those a migration cannot do without)."""
    return tuple(sorted({op.scope for f in features if optional or not f.optional for op in f.operations}))


def render_scope_table(features: Iterable[Feature] = FEATURES) -> str:
    """The scope table of ``docs/highlevel-setup.md``: one row per scope, the features that need it."""
    by_scope: dict[str, list[str]] = {}
    optional: dict[str, bool] = {}
    for feature in features:
        for scope in sorted({op.scope for op in feature.operations}):
            names = by_scope.setdefault(scope, [])
            if feature.name not in names:
                names.append(feature.name)
            optional[scope] = optional.get(scope, True) and feature.optional
    lines = ["| Scope | Needed for |", "|---|---|"]
    for scope in sorted(by_scope):
        needed = ", ".join(by_scope[scope]) + (
            " (optional: the preflight warns without it)" if optional[scope] else ""
        )
        lines.append(f"| `{scope}` | {needed} |")
    return "\n".join(lines) + "\n"
