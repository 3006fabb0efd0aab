"""Commands whose plain text and path parameters skip typer's pydantic coercion.

typer 0.29 converts every non-flag parameter value, even an absent ``-C``, through a
pydantic ``TypeAdapter``; importing pydantic for that costs about 70 ms, a third of
the 250 ms ``agentcli list`` may take to start. Our ``str`` and ``Path`` parameters
need no validation beyond what the parser already did, so :class:`LeanCommand` hands
them over as ``str`` or ``Path`` directly. Any other parameter (an enum, a number, a
path with ``exists=True``...) keeps typer's own coercion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

LEAN_TYPES = (str, Path, bool)
_TRUE = ("1", "true", "yes", "on")
_CONSTRAINTS = ("parser", "min", "max", "exists", "resolve_path", "allow_dash", "path_type")


class PlainValue:
    """Typer's per-parameter coercion step, for a ``str``, ``Path`` or flag that needs none."""

    def __init__(self, kind: type[Any]):
        self.kind = kind

    def coerce(self, value: Any, *, param: Any = None, ctx: Any = None) -> Any:
        """``None`` stays ``None``; anything else becomes ``kind(value)``."""
        if value is None:
            return None
        if self.kind is bool and isinstance(value, str):
            return value.strip().lower() in _TRUE
        return self.kind(value)


def _plain_kind(param: Any) -> type[Any] | None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.annotation not in LEAN_TYPES:
        return None
    if getattr(descriptor, "file_annotation", None) is not None:
        return None
    if getattr(param, "multiple", False) or getattr(param, "nargs", 1) != 1:
        return None
    info = getattr(descriptor, "parameter_info", None)
    if any(getattr(info, name, None) not in (None, False) for name in _CONSTRAINTS):
        return None
    return descriptor.annotation


def make_lean(param: Any) -> None:
    """Give a plain ``str``/``Path``/``bool`` parameter our coercion; leave others alone."""
    kind = _plain_kind(param)
    if kind is not None:
        plain = PlainValue(kind)
        # typer builds this lazily per parameter; providing it up front means the
        # pydantic adapter is never built, so pydantic is never imported.
        param.get_runtime_param = lambda: plain


class _Lean:
    """Mixin: make a command's (or group's) parameters and its ``--help`` flag lean."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for param in self.params:
            make_lean(param)

    def get_help_option(self, ctx: Any) -> Any:
        """The ``--help`` flag, lean too (typer coerces it on every run)."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            make_lean(option)
        return option


class LeanCommand(_Lean, TyperCommand):
    """A ``TyperCommand`` that coerces its plain ``str``/``Path``/``bool`` parameters itself.

    Example:
        >>> @app.command(cls=LeanCommand)
        ... def list_sessions(workspace: Optional[Path] = None) -> None: ...
    """


class LeanGroup(_Lean, TyperGroup):
    """The app's group, whose ``--help`` flag is processed before any subcommand runs."""
