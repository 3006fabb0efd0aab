"""An answer cut off at the output token limit (``finish_reason: "length"``) is continued.

A model that reaches its output limit stops mid-sentence, and the endpoint says so with
``finish_reason: "length"``. Taken as final, the user would get half an answer as if it
were whole. So an answer without tool calls that was cut off is followed, in the
transaction that records it, by a note in the user's role telling the model it was cut
and to go on from where it stopped; the turn goes on (each continuation is a model call
of ``--max-turns``). The note is a ``messages`` row of role ``user`` whose
``model_call_id`` names the cut answer's call (a person's messages have none), so
compaction never mistakes it for the prompt. The turn's answer is the cut parts and the
last one joined. After ``MAX_CONTINUATIONS`` notes in a row the next answer is taken as
it is, cut or not: a model that never stops must not spend the whole turn.

An answer with tool calls that was cut has arguments that are not JSON (or miss
arguments): its calls fail with an error result the model reads, as any malformed call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentcli.agent.model.reply import ModelReply
from agentcli.session.records import Message

if TYPE_CHECKING:
    from agentcli.session.session import Session

MAX_CONTINUATIONS = 3
"""Notes in a row: a fourth answer cut off is taken as the turn's answer as it is."""

CUT_NOTE = ("[agentcli: your previous answer was cut off because it reached the output token limit "
            '(finish_reason "length"). Continue exactly where it stopped, without repeating what you '
            "already wrote; if it is long, finish it briefly.]")


def continue_if_cut(session: Session, agent: str, answer: Message, reply: ModelReply, row: int) -> bool:
    """Append the note after ``answer`` (the message of ``reply``, audit row ``row``) when the
    answer was cut off and may still be continued; True when it was appended. Call it in
    the transaction that records the answer."""
    if reply.finish_reason != "length" or reply.tool_calls:
        return False
    if len(_run(session, agent)) - 1 >= MAX_CONTINUATIONS:
        return False
    session.transcript.append("user", CUT_NOTE, agent=agent, prompt_id=answer.prompt_id, model_call_id=row)
    return True


def joined_answer(session: Session, agent: str, last: Message) -> str:
    """The turn's answer ending in ``last``: the parts of an answer continued after being
    cut off, joined (just ``last.content`` for an answer that was never cut)."""
    parts = _run(session, agent)
    if not parts or parts[-1].id != last.id:
        return last.content
    return "".join(part.content for part in parts)


def _run(session: Session, agent: str) -> list[Message]:
    """The agent's newest answers that continue each other (a cut answer, its note, the next
    answer, ...), oldest first, ending with its newest answer; empty when its newest
    message is not a text answer."""
    newest = session.transcript.newest(agent, 2 * MAX_CONTINUATIONS + 2)
    parts: list[Message] = []
    while newest:
        message = newest.pop()
        if message.role != "assistant" or message.tool_calls:
            break
        parts.insert(0, message)
        if not newest or not newest[-1].is_note or newest[-1].model_call_id != _call_before(newest):
            break
        newest.pop()  # the note between two parts
    return parts


def _call_before(messages: list[Message]) -> int | None:
    """The model call of the answer just before the last message of ``messages``."""
    return messages[-2].model_call_id if len(messages) >= 2 else None
