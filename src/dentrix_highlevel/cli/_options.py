"""Option shapes the commands repeat. Only click here, so a command module can use them without loading
``_common`` (the client, the engine)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["enum_option", "shown_option"]

_F = TypeVar("_F", bound=Callable[..., Any])


def shown_option(flag: str, kind: Any, default: Any, help: str) -> Callable[[_F], _F]:
    """``flag`` of type ``kind`` whose default ``--help`` shows."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help)


def enum_option(flag: str, values: type[enum.Enum], default: enum.Enum, help: str) -> Callable[[_F], _F]:
    """``flag``: one of an enum's ``values``, its default shown."""
    return shown_option(flag, click.Choice([v.value for v in values]), default.value, help)
