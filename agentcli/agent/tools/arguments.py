"""Tool schemas: writing one, and checking a call's arguments against it.

The messages are for the model: each names the tool, the parameter and what would fit.

Example:
    >>> schema = function_schema("greet", "Say hello.", {"who": {"type": "string",
    ...                          "description": "Whom to greet."}}, ["who"])
    >>> check_arguments(schema, parse_arguments("greet", '{"who": null}'))
    Traceback (most recent call last):
    ToolError: greet needs the argument 'who': Whom to greet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from agentcli.agent.errors import ToolError

PATH_PARAMETER = {
    "type": "string",
    "description": "Path relative to the workspace root (an absolute path inside the workspace "
                   "works too).",
}


def function_schema(name: str, description: str, properties: dict[str, Any],
                    required: list[str]) -> dict[str, Any]:
    """A Chat Completions ``tools`` entry: a function whose parameters are one JSON object."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


def parse_arguments(name: str, raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The call's arguments as a dict; an empty string counts as ``{}``."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or not raw.strip():
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolError(
            f"The arguments of {name} are not valid JSON ({exc}). Send one JSON object, "
            'e.g. {"path": "src/app.py"}.'
        ) from None
    if not isinstance(args, dict):
        raise ToolError(f"The arguments of {name} must be a JSON object, not {_json_type(args)}.")
    return args


def check_arguments(schema: Mapping[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Check ``args`` against a tool's schema (as :func:`function_schema` writes it).

    ``null`` counts as not given; an integral float fits an integer parameter.
    """
    name = schema["function"]["name"]
    params = schema["function"]["parameters"]
    props: dict[str, Any] = params["properties"]
    unknown = sorted(set(args) - set(props))
    if unknown:
        raise ToolError(f"{name} has no parameter {unknown[0]!r}; its parameters are: "
                        f"{', '.join(props)}.")
    checked = {key: value for key, value in args.items() if value is not None}
    for key in params["required"]:
        if key not in checked:
            raise ToolError(f"{name} needs the argument {key!r}: {props[key]['description']}")
    for key, value in checked.items():
        checked[key] = _check_type(name, key, value, props[key])
    return checked


def _check_type(name: str, key: str, value: Any, prop: dict[str, Any]) -> Any:
    kind = prop["type"]
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": is_number and isinstance(value, int),
        "number": is_number,
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]
    if not fits:
        articles = {"integer": "an integer", "array": "an array", "object": "an object"}
        wanted = articles.get(kind, f"a {kind}")
        raise ToolError(f"{key} of {name} must be {wanted}, not {_json_type(value)}.")
    bad = _surrogate_in(value)
    if bad is not None:
        raise ToolError(f"{key} of {name} is not valid UTF-8 text: it holds a lone surrogate "
                        f"({bad}); send text without it.")
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every comparison; inf passes a cap
        raise ToolError(f"{key} of {name} must be a finite number, not {value}.")
    if "minimum" in prop and value < prop["minimum"]:
        raise ToolError(f"{key} of {name} must be at least {prop['minimum']}, not {value}.")
    return value


def _surrogate_in(value: Any) -> str | None:
    """The first lone surrogate in a string, or in any string of an array or object, escaped."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"\\u{ord(value[exc.start]):04x}"
        return None
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    if isinstance(items, list):
        return next((bad for item in items if (bad := _surrogate_in(item)) is not None), None)
    return None


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
