"""The one mechanism every moto extension goes through.

Each patch names the moto attribute it replaces or adds. When moto's internals move (a renamed method, an API
moto grows on its own), installation fails with `MotoDrift` naming the attribute, instead of the sandbox
silently running on stock moto.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

MOTO_VERSION = "5.2.5"


class MotoDrift(RuntimeError):
    """moto is not the version, or no longer has the shape, that the sandbox extends."""


def check_moto_version() -> None:
    found = metadata.version("moto")
    if found != MOTO_VERSION:
        raise MotoDrift(
            f"the sandbox extends moto {MOTO_VERSION} but moto {found} is installed; pin moto=={MOTO_VERSION} "
            "or re-check every patch in mlrollout_sandbox/emulator against the new version"
        )


_MISSING = object()


class Patcher:
    """Replaces or adds attributes on moto objects and can undo all of it."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def replace(self, owner: Any, name: str, new: Any) -> Any:
        """Replace an attribute moto has; returns the original so the patch can delegate to it."""
        if not hasattr(owner, name):
            raise MotoDrift(
                f"moto changed: {_describe(owner)} no longer has {name!r}; update mlrollout_sandbox.emulator"
            )
        original = getattr(owner, name)
        self._set(owner, name, new)
        return original

    def add(self, owner: Any, name: str, new: Any) -> None:
        """Add an attribute moto lacks. If moto grew it, stop: ours may now shadow a real implementation."""
        if hasattr(owner, name):
            raise MotoDrift(
                f"moto now implements {_describe(owner)}.{name}; review whether the sandbox's version is still needed"
            )
        self._set(owner, name, new)

    def _set(self, owner: Any, name: str, new: Any) -> None:
        previous = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        self._undo.append((owner, name, previous))
        setattr(owner, name, new)

    def undo_all(self) -> None:
        while self._undo:
            owner, name, previous = self._undo.pop()
            if previous is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)


def _describe(owner: Any) -> str:
    module = getattr(owner, "__module__", None) or getattr(owner, "__name__", "?")
    return f"{module}.{getattr(owner, '__qualname__', getattr(owner, '__name__', repr(owner)))}"


Hook = Callable[..., Any]
