"""What a request is to the retry rules (see ``_client``); its own module so the resource groups can name
it without importing the client."""

from __future__ import annotations

import enum

__all__ = ["RequestKind"]


class RequestKind(enum.Enum):
    READ = "read"
    IDEMPOTENT = "idempotent"
    CREATE = "create"
