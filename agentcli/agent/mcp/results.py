"""An MCP tool result as the text the model reads.

Text blocks are the result; structured content is added as JSON unless the text already
carries it (servers are asked to mirror it there; a tool that returns a string has it
wrapped as ``{"result": text}``). Images, audio
and resources become one short placeholder each, naming them: their bytes never enter
the transcript. A result longer than ``max_chars`` keeps its head and tail, with a marker
saying how much was cut (the context builder trims long results again when it sends
them, as for every tool).

Example:
    >>> render_result(result, 100_000)   # a CallToolResult of one text block and one image
    ('the chart for 2024\\n[image: image/png, 12.3 KB]', False)
"""

from __future__ import annotations

import json
from typing import Any

NO_OUTPUT = "(the tool returned nothing)"


def render_result(result: Any, max_chars: int) -> tuple[str, bool]:
    """``(text, is_error)`` for a ``CallToolResult`` (read by attribute, as the SDK gives it)."""
    parts = [_block(block) for block in result.content or []]
    structured = getattr(result, "structured_content", None)
    if structured is not None and not _mirrored(parts, structured):
        parts.append(json.dumps(structured, ensure_ascii=False, indent=2))
    text = "\n".join(part for part in parts if part) or NO_OUTPUT
    return clip(text, max_chars), bool(result.is_error)


def _block(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        size = len(block.data or "") * 3 // 4  # base64
        return f"[{kind}: {block.mime_type or 'unknown type'}, {_size(size)}]"
    if kind == "resource_link":
        label = f" ({block.name})" if getattr(block, "name", None) else ""
        return f"[resource link: {block.uri}{label}]"
    if kind == "resource":
        inner = block.resource
        what = inner.mime_type or ("text" if hasattr(inner, "text") else "binary")
        size = len(getattr(inner, "text", "") or "") or len(getattr(inner, "blob", "") or "") * 3 // 4
        return f"[resource: {inner.uri} ({what}, {_size(size)})]"
    return f"[{kind or 'unknown'} content]"


def _mirrored(parts: list[str], structured: Any) -> bool:
    """Whether the text blocks already say what ``structured`` does."""
    if isinstance(structured, dict) and len(structured) == 1:
        (value,) = structured.values()
        if value in parts or value == "\n".join(parts):
            return True
    for part in parts:
        try:
            if json.loads(part) == structured:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _size(size: int) -> str:
    return f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KB"


def clip(text: str, max_chars: int) -> str:
    """``text`` within ``max_chars``: its first and last halves, and how much was left out."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n[... {omitted} characters omitted ...]\n{text[len(text) - half:]}"
