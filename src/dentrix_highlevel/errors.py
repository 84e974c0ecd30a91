"""The exception tree: every error the library raises on purpose is a :class:`DentrixHighLevelError`.

The tree, its meaning and the command line's exit codes are drawn in ``dentrix_highlevel._errors``'s
docstring (the API reference shows it). This namespace hands on exactly that module's ``__all__``.
"""

from __future__ import annotations

from dentrix_highlevel._errors import *  # noqa: F403 - the whole tree is this namespace's face
from dentrix_highlevel._errors import __all__ as __all__
