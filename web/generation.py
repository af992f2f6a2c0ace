"""The pool of generation workers behind the "Try it" box (`web/tryit.py`).

Each worker is a `python -m registry.generation.worker` process holding a few
loaded causal LMs; the web server itself never imports Keras. Workers start on
the first request, answer one request at a time, and are picked for the model
they already hold. Requests beyond the idle workers wait in a bounded queue
(`TooManyRequestsError`, a 429, when it is full). A worker that dies or overruns its
request's time is killed and replaced; the request it was answering ends with
an error that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from registry.config import TryLimits
from registry.errors import RegistryError, TooManyRequestsError
from registry.generation.protocol import GenerateRequest, cancel_line

# What a worker may take beyond a request's own deadline before it is killed
# (its deadline is checked between tokens; a stuck step would never reach it).
KILL_GRACE_S = 15.0
_READY_TIMEOUT_S = 300.0


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    models: deque[str] = field(default_factory=deque)  # keys, least recently used first
    events: asyncio.Queue[dict[str, Any]] | None = None  # the current request's
    reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None


class GenerationPool:
    """Worker processes answering `GenerateRequest`s; see the module's docstring."""

    def __init__(self, limits: TryLimits) -> None:
        self.limits = limits
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._waiting: deque[asyncio.Future[_Worker]] = deque()
        self._ids = itertools.count(1)
        self._closed = False
        self._recent: dict[str, deque[float]] = {}
        self._stopping: set[asyncio.Task[None]] = set()  # requests being cancelled
        self._spawning = asyncio.Lock()

    # === Workers ===

    async def _spawn(self) -> _Worker:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "registry.generation.worker",
            "--models", str(self.limits.models_per_worker),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            limit=1 << 20,
        )  # fmt: skip
        worker = _Worker(process, asyncio.get_running_loop().create_future())
        worker.reader = asyncio.create_task(self._read(worker))
        self._workers.append(worker)
        return worker

    async def _read(self, worker: _Worker) -> None:
        """Route the worker's events to the request it is answering; on its end,
        fail that request and start a replacement."""
        assert worker.process.stdout is not None
        while line := await worker.process.stdout.readline():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "ready":
                if not worker.ready.done():
                    worker.ready.set_result(None)
            elif worker.events is not None:
                worker.events.put_nowait(event)
        code = await worker.process.wait()
        was_ready = worker.ready.done()
        if not was_ready:
            worker.ready.set_exception(
                RegistryError(
                    f"A generation worker failed to start (exit code {code}); the "
                    "server's log has its error."
                )
            )
            worker.ready.exception()  # retrieved: a request may never have waited for it
        if worker.events is not None:
            worker.events.put_nowait({
                "event": "error",
                "message": f"The generation worker stopped (exit code {code}) before the "
                "answer was complete; it has been replaced. Try again.",
            })  # fmt: skip
        self._workers.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        # A worker that had started is replaced at once; one that never did is
        # started again by the next request (no restart loop when it cannot start).
        if was_ready:
            await self._start_missing()

    async def _start_missing(self) -> None:
        """Start workers up to the limit, each going to a waiting request or the idle.

        Workers start with the first request, after a worker's end, and after
        failing to start; one at a time, so two callers never start one too many.
        """
        async with self._spawning:
            while len(self._workers) < self.limits.workers and not self._closed:
                self._release(await self._spawn())

    def _take_idle(self, key: str) -> _Worker | None:
        """An idle worker, one holding `key` if any does."""
        if not self._idle:
            return None
        worker = next((w for w in self._idle if key in w.models), self._idle[0])
        self._idle.remove(worker)
        return worker

    def check_capacity(self) -> None:
        """Raise TooManyRequestsError if a new request would find the queue full."""
        if not self._idle and len(self._waiting) >= self.limits.queue and self._workers:
            raise TooManyRequestsError(
                f"All {self.limits.workers} generation worker(s) are busy and "
                f"{len(self._waiting)} request(s) are waiting. Try again in a minute.",
                retry_after_s=30.0,
            )

    def _release(self, worker: _Worker) -> None:
        worker.events = None
        if not worker.alive or self._closed:
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiting:
            waiter.cancel()
        for worker in list(self._workers):
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()
            if worker.reader is not None:
                worker.reader.cancel()

    def idle(self) -> int:
        """How many workers are free to take a request now."""
        return len(self._idle)

    def pids(self) -> list[int]:
        """The workers' process ids (for operators, and tests that kill one)."""
        return [w.process.pid for w in self._workers if w.alive]

    # === Requests ===

    def admit(self, client: str) -> None:
        """Count a request of `client` against its rate, or raise TooManyRequestsError."""
        now = time.monotonic()
        recent = self._recent.setdefault(client, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.limits.rate_per_minute:
            wait = 60 - (now - recent[0])
            raise TooManyRequestsError(
                f"Too many requests: at most {self.limits.rate_per_minute} a minute from one "
                f"client. Try again in {wait:.0f} s.",
                wait,
            )
        recent.append(now)
        if len(self._recent) > 10_000:  # forget idle clients
            for key in [k for k, v in self._recent.items() if not v or v[-1] < now - 60]:
                del self._recent[key]

    async def generate(self, request: GenerateRequest) -> AsyncIterator[dict[str, Any]]:
        """The worker's events for `request`, ending with one "done" or "error".

        Raises TooManyRequestsError before any event when the queue is full. Closing
        the iterator early (a client that went away) cancels the request.
        """
        await self._start_missing()
        worker = self._take_idle(request.key)
        if worker is None:
            self.check_capacity()
            waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                yield {"event": "queued", "position": len(self._waiting)}
                worker = await waiter
            except BaseException:  # the client left (or the pool closed) while queued
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._release(waiter.result())  # handed over as it left
                raise
        request = replace(request, id=next(self._ids), deadline_s=self.limits.timeout_s)
        async with contextlib.aclosing(self._answer(worker, request)) as events:
            async for event in events:
                yield event

    async def _answer(
        self, worker: _Worker, request: GenerateRequest
    ) -> AsyncGenerator[dict[str, Any], None]:
        """`request`'s events from `worker`, which it releases (or cancels, then releases)."""
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        worker.events = events
        finished = False
        try:
            try:
                await asyncio.wait_for(asyncio.shield(worker.ready), _READY_TIMEOUT_S)
                assert worker.process.stdin is not None
                worker.process.stdin.write(request.line())
                await worker.process.stdin.drain()
            except (RegistryError, TimeoutError, ConnectionError) as error:
                finished = True
                yield {"event": "error", "message": str(error) or "No worker became ready."}
                return
            limit = time.monotonic() + request.deadline_s + KILL_GRACE_S
            while not finished:
                event = await self._next_event(worker, events, limit, request.deadline_s)
                if event.get("event") == "loading":
                    worker.models.append(request.key)
                    while len(worker.models) > self.limits.models_per_worker:
                        worker.models.popleft()
                finished = event.get("event") in ("done", "error")  # before the client may leave
                yield event
        finally:
            if request.key in worker.models:  # most recently used last
                worker.models.remove(request.key)
                worker.models.append(request.key)
            if finished or not worker.alive:
                self._release(worker)
            else:
                # The client left. This task is being cancelled (and, under anyio, every
                # await in it would be too): stop the request from a task of its own.
                stopping = asyncio.get_running_loop().create_task(
                    self._cancel(worker, request.id, events)
                )
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)

    @staticmethod
    async def _next_event(
        worker: _Worker, events: asyncio.Queue[dict[str, Any]], limit: float, deadline_s: float
    ) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(events.get(), limit - time.monotonic())
        except TimeoutError:
            worker.process.kill()  # stuck past its deadline; `_read` replaces it
            return {
                "event": "error",
                "message": f"Generation took longer than {deadline_s:.0f} s and was stopped.",
            }

    async def _cancel(
        self, worker: _Worker, request_id: int, events: asyncio.Queue[dict[str, Any]]
    ) -> None:
        """Tell the worker to stop and wait for its last event (it stops between
        tokens), then release it; kill it if it does not stop."""
        try:
            assert worker.process.stdin is not None
            worker.process.stdin.write(cancel_line(request_id))
            await worker.process.stdin.drain()
            limit = time.monotonic() + KILL_GRACE_S
            while (await asyncio.wait_for(events.get(), limit - time.monotonic())).get(
                "event"
            ) not in ("done", "error"):
                pass
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()  # `_read` replaces it
        self._release(worker)
