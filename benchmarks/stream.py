"""Benchmark joining a streamed answer's tool calls when the server sends no ``index`` (issue 20).

Run from the repository root (with agentcli installed)::

    python benchmarks/stream.py               # 16, 64 and 256 calls of 200 pieces, 3 runs
    python benchmarks/stream.py --pieces 500 --runs 5

Some servers stream tool calls without ``index``: a call's first chunk carries its id,
and the chunks of its arguments carry either the same id again ("with id") or nothing
("bare"). Each chunk goes through :class:`StreamAssembler` as the client feeds it.
Measured: microseconds per chunk (median of ``--runs``) for answers of 16, 64 and 256
calls (256 is the most one answer may make). Goal: a chunk costs the same however many
calls came before it — at 256 calls within 2x of 16 calls. Exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from agentcli.agent.model.reply import StreamAssembler, reply_from_response

CALLS = (16, 64, 256)


def chunks(calls: int, pieces: int, with_id: bool) -> list[dict[str, Any]]:
    """The chunks of an answer of ``calls`` index-less tool calls of ``pieces`` pieces each."""
    out: list[dict[str, Any]] = []
    for n in range(calls):
        call_id = f"call_{n}"
        out.append(_chunk({"id": call_id, "type": "function", "function": {"name": "read_file",
                                                                           "arguments": ""}}))
        for _ in range(pieces):
            piece: dict[str, Any] = {"function": {"arguments": "x"}}
            if with_id:
                piece["id"] = call_id
            out.append(_chunk(piece))
    out.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return out


def _chunk(call: dict[str, Any]) -> dict[str, Any]:
    return {"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}


def per_chunk_us(stream: list[dict[str, Any]], calls: int, runs: int) -> float:
    """Median microseconds per chunk of assembling ``stream`` (checked: ``calls`` calls)."""
    times = []
    for _ in range(runs):
        assembler = StreamAssembler()
        began = time.perf_counter()
        for chunk in stream:
            assembler.add(chunk)
        reply = reply_from_response(assembler.response())
        times.append((time.perf_counter() - began) / len(stream) * 1e6)
        assert len(reply.tool_calls) == calls, len(reply.tool_calls)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200, help="argument pieces per call")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'chunks':<10}" + "".join(f"{f'{n} calls':>12}" for n in CALLS) + f"{'256 / 16':>10}  goal")
    missed = False
    for with_id in (False, True):
        cost = [per_chunk_us(chunks(n, args.pieces, with_id), n, args.runs) for n in CALLS]
        ratio = cost[-1] / cost[0]
        missed |= ratio > 2
        print(f"{'with id' if with_id else 'bare':<10}" + "".join(f"{c:>10.2f}us" for c in cost)
              + f"{ratio:>9.1f}x  <= 2x {'ok' if ratio <= 2 else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
