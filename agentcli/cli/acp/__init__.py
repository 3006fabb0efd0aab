"""``agentcli acp``: editors as clients of the engine, over the Agent Client Protocol.

ACP (JSON-RPC 2.0 on stdio, agentclientprotocol.com) is how Zed, JetBrains IDEs, Neovim
and Emacs drive a coding agent. Here it is one more client of the engine's door
(``agent/engine/``), like the terminal and ``-p``: operations in, events out.

- ``server``: the SDK's ``Agent`` — initialize, session/new, load, list, prompt, cancel,
  set_mode — and the process around it (stdout kept for the protocol alone);
- ``opening``: sessions opened by the rules of ``agentcli new`` and ``resume``;
- ``live``: one session's engine and the bridge from its threads to the connection;
- ``updates``: engine events as ``session/update`` notifications; ``toolcalls``: how a
  tool call reads (kind, title, locations, diff); ``replay``: a file's history as updates;
- ``permissions``: approval questions as ``session/request_permission``;
- ``prompts``: a prompt's content blocks as text; ``commands``: the slash commands.

The ``acp`` SDK (and pydantic with it) is imported only by ``agentcli acp``.
"""
