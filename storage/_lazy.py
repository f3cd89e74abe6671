"""Module ``__getattr__`` for packages that import their public names on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, lazy: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``lazy[name]`` the first time ``name`` is used.

    Args:
        package: The package's name, for the error message.
        lazy: Public name -> the module that defines it.
        namespace: The package's ``globals()``; a loaded name is cached there, so later
            lookups skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
