"""Public paths for public types: ``reveal_type``, tracebacks and reprs name
``dentrix_highlevel.migration.Run``, never the private module it is written in
(``dentrix_highlevel.migration._state.ledger.Run``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

__all__ = ["publish"]


def publish(
    namespace: str, names: Iterable[str], scope: Mapping[str, object], *, also: Iterable[str] = ()
) -> None:
    """Set ``__module__`` to ``namespace`` on the classes of ``names`` written in its private modules
    (``namespace._x``, and the private modules in ``also``); re-exports from another public namespace
    keep that one.

    Annotations are strings (``from __future__ import annotations``) that attrs and cattrs resolve in the
    class's ``__module__``: they are resolved first, in the module they were written in, or a name the
    public namespace does not export would no longer resolve. Pickling finds the class at its public path.
    """
    homes = (namespace, *also)
    classes = [
        obj
        for obj in (scope[name] for name in names)
        if isinstance(obj, type)
        and obj.__module__ != namespace
        and any(obj.__module__ == home or obj.__module__.startswith(home + "._") for home in homes)
    ]
    for cls in classes:  # every one resolved before any moves: a subclass resolves its base's hints too
        if attrs.has(cls):
            try:
                attrs.resolve_types(cls)
            except NameError:
                # A hint only a type checker sees (imported under TYPE_CHECKING): it resolves nowhere,
                # at the private path no more than at the public one.
                continue
    for cls in classes:
        cls.__module__ = namespace
