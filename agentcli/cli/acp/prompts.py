"""A ``session/prompt``'s content blocks as the one prompt text a session stores.

agentcli takes text, and files as context — what ``initialize`` announces
(``embeddedContext``; no images, no audio):

- ``text`` blocks, joined;
- ``resource`` blocks (an editor's ``@`` mention with its content): the text attached
  after the prompt as ``File PATH:`` and a fenced block, like the terminal's ``@path``;
- ``resource_link`` blocks: a ``file://`` link to a file inside the workspace is read and
  attached the same way (through the workspace jail: agentcli's own files, ``.git`` and
  anything outside stay out); any other link is named in the text.

Files attach at most ``MAX_MENTION_BYTES`` each and ``MAX_MENTIONS_BYTES`` together, cut
where they pass, as at the terminal. An image, audio or binary resource is refused
(:class:`PromptError`): the request is answered with a JSON-RPC error, nothing is stored.

Example:
    >>> prompt_text([TextContentBlock(type="text", text="explain this")], root, protected=[])
    'explain this'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from agentcli.agent.errors import ToolError
from agentcli.cli.prompt_input import MAX_MENTION_BYTES, MAX_MENTIONS_BYTES, read_head
from agentcli.cli.render.markdown import fenced
from agentcli.errors import UsageError


class PromptError(UsageError):
    """A prompt block agentcli cannot take (an image, audio, a binary file)."""


class _Attachments:
    """The files a prompt attaches, within the caps."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.used = 0

    def add(self, name: str, text: str) -> None:
        room = min(MAX_MENTION_BYTES, MAX_MENTIONS_BYTES - self.used)
        if room <= 0:
            self.parts.append(f"File {name}: not attached (the files of one prompt attach at most "
                              f"{MAX_MENTIONS_BYTES // 1000:,} kB together)")
            return
        data = text.encode("utf-8")
        kept = data[:room].decode("utf-8", errors="ignore")
        self.used += len(kept.encode("utf-8"))
        cut = f" (cut at {room // 1000:,} kB)" if len(data) > room else ""
        self.parts.append(f"File {name}{cut}:\n{fenced(kept)}")


def prompt_text(blocks: Sequence[Any], root: Path, protected: Iterable[Path]) -> str:
    """The prompt as stored (see the module docstring). Raises PromptError."""
    from agentcli.agent.workspace.jail import Workspace

    workspace = Workspace(root, protected=list(protected))
    texts: list[str] = []
    files = _Attachments()
    for block in blocks:
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "resource":
            resource = block.resource
            if getattr(resource, "text", None) is None:
                raise PromptError(f"{resource.uri}: agentcli takes text files as context, not binary "
                                  "content")
            files.add(_name(resource.uri, workspace), resource.text)
        elif kind == "resource_link":
            _link(block, workspace, texts, files)
        else:
            raise PromptError(f"agentcli takes text and files, not {kind or 'this kind of'} content "
                              "(it announces no image or audio support)")
    text = "\n".join(texts).strip()
    if not text and not files.parts:
        raise PromptError("the prompt is empty: send some text")
    return "\n\n".join([part for part in [text] if part] + files.parts)


def _link(block: Any, workspace: Any, texts: list[str], files: _Attachments) -> None:
    """A link: a workspace file's content is attached; anything else is named."""
    path = _file_path(block.uri)
    if path is not None:
        try:
            real = workspace.resolve(str(path))
        except ToolError as err:
            texts.append(f"(@{block.name}: not attached: {err})")
            return
        if real.is_file():
            try:
                data = read_head(real, MAX_MENTION_BYTES)
            except OSError as err:
                texts.append(f"(@{workspace.relative(real)}: cannot be read: {err.strerror or err})")
                return
            if b"\0" in data[:8000]:
                texts.append(f"(@{workspace.relative(real)}: a binary file, not attached)")
                return
            files.add(workspace.relative(real), data.decode("utf-8", errors="replace"))
            return
    texts.append(f"@{block.uri}")


def _file_path(uri: str) -> Path | None:
    parts = urlparse(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if not parts.scheme and uri.startswith("/"):
        return Path(uri)
    return None


def _name(uri: str, workspace: Any) -> str:
    """How an attached file is named: its path in the workspace, else its URI."""
    path = _file_path(uri)
    if path is None:
        return uri
    try:
        return workspace.relative(workspace.resolve(str(path)))
    except ToolError:
        return uri
