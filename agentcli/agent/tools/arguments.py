"""Checking a tool call's arguments against its JSON schema, with messages the model can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentcli.agent.errors import ToolError
from agentcli.agent.tools.schemas import PLAN_STATUSES, TOOL_SCHEMAS


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


def check_arguments(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Check ``args`` against the tool's schema; ``null`` counts as not given."""
    params = TOOL_SCHEMAS[name]["function"]["parameters"]
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
    if "minimum" in prop and value < prop["minimum"]:
        raise ToolError(f"{key} of {name} must be at least {prop['minimum']}, not {value}.")
    return value


def validate_plan(items: list[Any]) -> list[dict[str, str]]:
    """Plan items as ``{"title", "status"}`` dicts; other keys are dropped."""
    plan: list[dict[str, str]] = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise ToolError(f"{where} must be an object with title and status.")
        title, status = item.get("title"), item.get("status")
        if not isinstance(title, str) or not title.strip():
            raise ToolError(f"{where}.title must be a non-empty string.")
        if status not in PLAN_STATUSES:
            raise ToolError(
                f"{where}.status must be one of {', '.join(PLAN_STATUSES)}, not {status!r}."
            )
        plan.append({"title": title.strip(), "status": status})
    return plan


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
