"""The JSON-lines protocol between the web server and a generation worker.

The server writes one request per line to the worker's stdin:

    {"op": "generate", "id": 7, "preset": "/store/trees/ab...", "key": "<revision digest>",
     "prompt": "...", "max_new_tokens": 64, "sampler": "top_k", "temperature": 0.8,
     "top_k": 40, "top_p": 0.9, "seed": 1, "deadline_s": 120.0}
    {"op": "cancel", "id": 7}

and the worker answers with events, one per line on its stdout:

    {"event": "ready"}                                (once, when its imports are done)
    {"id": 7, "event": "loading"}                     (the model was not loaded yet)
    {"id": 7, "event": "text", "text": " the"}        (as tokens arrive)
    {"id": 7, "event": "done", "tokens": 12, "seconds": 0.4, "reason": "length"}
    {"id": 7, "event": "error", "kind": "request", "message": "..."}

`reason` is "length" (max_new_tokens reached), "end" (the model's end token),
"cancelled" or "time" (deadline_s passed). An error's `kind` is "request" when
the request or the preset is at fault (a prompt longer than the model's
positions, a preset that does not load) and "worker" otherwise. Every request
ends with exactly one `done` or `error`. Nothing here imports Keras.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Sampler = Literal["greedy", "top_k", "top_p"]
SAMPLERS: tuple[Sampler, ...] = ("greedy", "top_k", "top_p")


@dataclass(frozen=True)
class GenerateRequest:
    id: int
    preset: str  # the verified tree of the revision
    key: str  # what the worker keeps the loaded model under (the revision's digest)
    prompt: str
    max_new_tokens: int
    sampler: Sampler = "greedy"
    temperature: float = 1.0
    top_k: int = 40
    top_p: float = 0.9
    seed: int | None = None
    deadline_s: float = 120.0

    def line(self) -> bytes:
        return (json.dumps({"op": "generate", **asdict(self)}) + "\n").encode()


def cancel_line(request_id: int) -> bytes:
    return (json.dumps({"op": "cancel", "id": request_id}) + "\n").encode()


def event_line(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False) + "\n"
