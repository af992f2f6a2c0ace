"""A generation worker: `python -m registry.generation.worker --models N`.

Reads requests from stdin and writes events to stdout (`protocol`), one
request at a time, keeping up to N causal LMs loaded (the least recently used
is dropped first). A `cancel` line stops the request it names between two
tokens; a request also stops at its deadline. Anything else Keras or
TensorFlow print goes to stderr: stdout carries the protocol only.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, TextIO

from registry.generation.protocol import GenerateRequest, event_line


class _Channel:
    """The protocol's stdout (a copy of fd 1 taken before fd 1 is pointed at stderr)."""

    def __init__(self) -> None:
        self._out: TextIO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)  # a stray print() can no longer break a line of the protocol
        self._lock = threading.Lock()

    def send(self, **fields: Any) -> None:
        with self._lock:
            self._out.write(event_line(**fields))
            self._out.flush()


class _Inbox:
    """Requests read from stdin on a thread, so a `cancel` arrives mid-generation."""

    def __init__(self) -> None:
        self.requests: queue.Queue[GenerateRequest | None] = queue.Queue()
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name="worker-stdin").start()

    def _read(self) -> None:
        for line in sys.stdin:
            try:
                message = json.loads(line)
                op = message.pop("op")
            except (ValueError, KeyError, AttributeError):
                continue  # not a line of the protocol
            if op == "cancel":
                with self._lock:
                    self._cancelled.add(int(message["id"]))
            elif op == "generate":
                self.requests.put(GenerateRequest(**message))
        self.requests.put(None)  # stdin closed: the server is gone

    def cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._cancelled

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._cancelled.discard(request_id)


class _Models:
    """Loaded causal LMs by key, at most `capacity`, least recently used dropped."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._loaded: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str, preset: str, loading: Any) -> Any:
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        loading()
        while len(self._loaded) >= self.capacity:
            self._loaded.popitem(last=False)
        from registry.architectures.causal_lm import CausalLM

        model = CausalLM.from_preset(preset)
        self._loaded[key] = model
        return model


def _run(request: GenerateRequest, models: _Models, inbox: _Inbox, channel: _Channel) -> None:
    started = time.monotonic()
    deadline = started + request.deadline_s
    model = models.get(
        request.key, request.preset, lambda: channel.send(id=request.id, event="loading")
    )
    reason, tokens = "length", 0
    pieces = model.stream(
        request.prompt,
        max_new_tokens=request.max_new_tokens,
        sampler=request.sampler,
        temperature=request.temperature,
        top_k=request.top_k,
        top_p=request.top_p,
        seed=request.seed,
    )
    try:
        for piece in pieces:
            tokens += 1
            if piece:
                channel.send(id=request.id, event="text", text=piece)
            if inbox.cancelled(request.id):
                reason = "cancelled"
                break
            if time.monotonic() > deadline:
                reason = "time"
                break
        else:
            reason = "end" if tokens < request.max_new_tokens else "length"
    finally:
        pieces.close()
    channel.send(
        id=request.id,
        event="done",
        tokens=tokens,
        seconds=round(time.monotonic() - started, 3),
        reason=reason,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2, help="models kept loaded")
    options = parser.parse_args(argv)
    channel = _Channel()
    inbox = _Inbox()
    import keras  # noqa: F401  (the slow import, done before saying ready)

    from registry.architectures import causal_lm  # noqa: F401

    channel.send(event="ready", pid=os.getpid())
    models = _Models(max(options.models, 1))
    while (request := inbox.requests.get()) is not None:
        try:
            _run(request, models, inbox, channel)
        except (ValueError, LookupError) as error:  # the request's or the preset's fault
            channel.send(id=request.id, event="error", kind="request", message=str(error))
        except Exception as error:  # any other failure is answered too; the worker lives on
            channel.send(
                id=request.id, event="error", kind="worker",
                message=f"{type(error).__name__}: {error}",
            )  # fmt: skip
        finally:
            inbox.forget(request.id)


if __name__ == "__main__":
    main()
