"""Commands whose plain text and path parameters skip typer's pydantic coercion.

typer 0.29 converts every non-flag parameter value, even an absent ``-C``, through a
pydantic ``TypeAdapter``; importing pydantic for that costs about 70 ms, a third of
the 250 ms ``agentcli list`` may take to start. Our ``str`` and ``Path`` parameters
need no validation beyond what the parser already did, so :class:`LeanCommand` hands
them over as ``str`` or ``Path`` directly. Any other parameter (an enum, a number, a
path with ``exists=True``...) keeps typer's own coercion, built only once it has a value
(:class:`TyperValue`): an absent option is ``None`` either way.

This leans on typer internals, pinned in ``pyproject.toml`` and checked against the
installed typer by ``tests/test_lean.py``:

- ``_TyperParameter.process_value`` coerces each value that is not already a ``bool``
  through ``self.get_runtime_param().coerce(value, param=..., ctx=...)``; we give each
  parameter its own ``get_runtime_param``; a single-valued parameter's runtime param
  turns ``None`` into ``None`` without using its adapter;
- a parameter's ``type_descriptor`` has ``annotation``, ``file_annotation`` and
  ``parameter_info``, the latter with the attributes named in :data:`CONSTRAINTS`;
- ``get_help_option(ctx)`` of a command or group returns its ``--help`` parameter.

When a parameter lacks that shape it is simply left to typer: slower, never wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

LEAN_TYPES = (str, Path, bool)
# pydantic's reading of a bool from text, as typer applies it (after strip; "" is False)
_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("", "0", "off", "f", "false", "n", "no"))
# ParameterInfo attributes that ask for more than a plain value: set, typer coerces
CONSTRAINTS = ("parser", "min", "max", "clamp", "exists", "resolve_path", "allow_dash", "path_type",
               "writable")
# ...and those whose default is a check of their own (False: typer's, not ours)
_DEFAULTS = {"file_okay": True, "dir_okay": True}


class PlainValue:
    """Typer's per-parameter coercion step, for a ``str``, ``Path`` or flag that needs none.

    Installed as the parameter's ``get_runtime_param``: calling it gives itself.
    """

    def __init__(self, kind: type[Any], readable: bool = False):
        self.kind = kind
        self.readable = readable

    def __call__(self) -> PlainValue:
        return self

    def coerce(self, value: Any, *, param: Any = None, ctx: Any = None) -> Any:
        """``None`` stays ``None``; anything else becomes ``kind(value)``, as typer would.

        Raises:
            BadParameter: a flag's text is no boolean, or an existing path is unreadable
                (typer checks ``readable`` on every path parameter by default).
        """
        if value is None:
            return None
        if self.kind is bool and isinstance(value, str):
            word = value.strip().lower()
            if word not in _TRUE and word not in _FALSE:
                _bad(f"{value!r} is not a valid boolean.", param, ctx)
            return word in _TRUE
        if self.kind is Path and self.readable and os.path.exists(value) and not os.access(value, os.R_OK):
            _bad(f"Path {os.fspath(value)!r} is not readable.", param, ctx)
        return self.kind(value)


class TyperValue:
    """Typer's own coercion of a parameter that is not plain (a number, an enum...), built
    the first time the parameter has a value: building it imports pydantic, and an absent
    option is ``None`` either way (``agentcli new`` has seven numbers, nearly always absent).

    Installed as the parameter's ``get_runtime_param``: calling it gives itself.
    """

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._built: Any = None

    def __call__(self) -> TyperValue:
        return self

    def coerce(self, value: Any, *, param: Any = None, ctx: Any = None) -> Any:
        """``None`` stays ``None``; anything else goes through typer's coercion."""
        if value is None:
            return None
        if self._built is None:
            self._built = self._build()
        return self._built.coerce(value, param=param, ctx=ctx)


def _bad(message: str, param: Any, ctx: Any) -> None:
    from typer._click.exceptions import BadParameter  # only on this error path: typer vendors click

    raise BadParameter(message, ctx=ctx, param=param)


def _plain_value(param: Any) -> PlainValue | None:
    """The coercion of a parameter that needs no more than ``kind(value)``, else None."""
    try:
        descriptor = param.type_descriptor
        kind, info = descriptor.annotation, descriptor.parameter_info
        if kind not in LEAN_TYPES or descriptor.file_annotation is not None:
            return None
        if param.multiple or param.nargs != 1:
            return None
        if any(getattr(info, name) not in (None, False) for name in CONSTRAINTS):
            return None
        if any(getattr(info, name) is not default for name, default in _DEFAULTS.items()):
            return None
        return PlainValue(kind, readable=bool(info.readable))
    except AttributeError:  # typer changed shape: leave the parameter to typer
        return None


def make_lean(param: Any) -> bool:
    """Give a plain ``str``/``Path``/``bool`` parameter our coercion, and any other
    single-valued one typer's, built once it has a value (:class:`TyperValue`).

    Returns:
        Whether the parameter is now lean (plain).
    """
    getter = getattr(param, "get_runtime_param", None)
    if isinstance(getter, (PlainValue, TyperValue)):  # made lean before
        return isinstance(getter, PlainValue)
    if not callable(getter):
        return False
    # typer builds this lazily per parameter; providing it up front means the
    # pydantic adapter is never built, so pydantic is never imported.
    plain = _plain_value(param)
    if plain is not None:
        param.get_runtime_param = plain
        return True
    if getattr(param, "multiple", True) is False and getattr(param, "nargs", None) == 1:
        param.get_runtime_param = TyperValue(getter)
    return False


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
