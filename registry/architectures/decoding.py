"""Autoregressive decoding with a key/value cache, compiled as keras-hub compiles it.

The loop is keras-hub's `generate_step`, made cheaper where it can be:
- each prompt sits at the start of its row (right-padded, as keras-hub's
  preprocessors pack them), and generation starts at the shortest prompt's
  end; a longer row keeps its own prompt tokens until its end is reached, so
  every row continues from its own last token;
- the prompts run through the model once (the prefill), over the shortest
  prompt's length rounded up to a bucket, not over the whole `max_length`
  as keras-hub does, and only the last position's logits are computed;
- each step then runs one token per row through the blocks, which read and
  write the cache of every layer at that position, and computes the logits of
  that one position;
- the loop stops once every row has produced an end token or reached its
  length.
The prefill and the loop are one compiled function, as keras-hub's
`make_generate_function` compiles them: `tf.function` on TensorFlow (with XLA
as `jit_compile` says), `jax.jit` on JAX with the weights passed as arguments
(not baked into the program), plain eager calls under `torch.no_grad()` on
PyTorch. Streaming runs the same prefill and step functions one token at a
time from Python. Shapes are bucketed so that prompts of nearby lengths reuse
one compiled program.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import keras
import numpy as np
from keras import ops

from registry.architectures.sampling import Sampling, next_token

DEFAULT_MAX_LENGTH = 64
# Lengths are rounded up to these multiples on the compiled backends, so that
# prompts of nearby lengths share one compiled program.
PREFILL_BUCKET = 16
LENGTH_BUCKET = 32
MIN_XLA_ROWS = 2

State = tuple[Any, Any, Any, Any, Any]  # token ids, caches, index, logits, done


class CachedModel(Protocol):
    """What decoding needs of a causal LM (see `registry.architectures.causal_lm`)."""

    def empty_caches(self, batch: Any, length: Any) -> Any: ...

    def call_with_cache(self, token_ids: Any, caches: Any, start: Any) -> tuple[Any, Any]: ...

    def logits(self, hidden_states: Any) -> Any: ...

    @property
    def variables(self) -> list[Any]: ...

    @property
    def vocabulary_size(self) -> int: ...

    @property
    def max_positions(self) -> int | None: ...


# === Prompts and results, on the host ===


def prompt_rows(token_ids: Any, padding_mask: Any = None) -> list[list[int]]:
    """Each row's prompt: its token ids where `padding_mask` keeps them.

    A mask may pad on either side (or both): only which positions it keeps
    matters, so a left-padded batch (transformers' convention) and a
    right-padded one (keras-hub's) give the same prompts.
    """
    ragged = isinstance(token_ids, list | tuple) and all(
        isinstance(row, list | tuple | np.ndarray) for row in token_ids
    )
    if ragged and padding_mask is None:
        return [[int(t) for t in row] for row in token_ids]
    ids = np.asarray(ops.convert_to_numpy(token_ids))
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2:
        raise ValueError(f"token_ids must be (batch, length). Received: shape={ids.shape}")
    if padding_mask is None:
        return [[int(t) for t in row] for row in ids]
    mask = np.asarray(ops.convert_to_numpy(padding_mask)).astype(bool).reshape(ids.shape)
    return [[int(t) for t in row[keep]] for row, keep in zip(ids, mask, strict=True)]


@dataclass(frozen=True)
class Prompts:
    """A batch packed for decoding: each prompt at the start of its row.

    `token_ids` is `(batch, width)`, `width` being `length` rounded up to the
    length bucket; row `i` may grow to `limits[i]` tokens in all.
    """

    token_ids: np.ndarray  # (B, width) int32
    lengths: np.ndarray  # (B,) int32, each prompt's length
    limits: np.ndarray  # (B,) int32, each row's most tokens, prompt included
    length: int  # the result's width: the longest row's limit


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def pack(
    rows: Sequence[Sequence[int]],
    *,
    max_length: int | None,
    max_new_tokens: int | None,
    pad_token_id: int,
    bucket: int = 1,
) -> Prompts:
    """Pack prompts for decoding.

    Args:
        rows: each prompt's token ids.
        max_length: the most tokens of a row, prompt included (keras-hub's
            `max_length`).
        max_new_tokens: the most tokens generated for a row (transformers'
            `max_new_tokens`). With neither, `max_length` is 64.
        pad_token_id: what fills the rows after their prompts.
        bucket: round the width up to a multiple of this.

    Raises:
        ValueError: no prompt, an empty one, or one longer than `max_length`.
    """
    if not rows:
        raise ValueError("No prompt to generate from: the batch is empty.")
    lengths = np.array([len(row) for row in rows], dtype="int32")
    if lengths.min() == 0:
        raise ValueError(
            f"Prompt {int(np.argmin(lengths))} of the batch is empty; a causal LM needs at "
            "least one token to continue (the tokenizer's start token, for text)."
        )
    for name, value in (("max_length", max_length), ("max_new_tokens", max_new_tokens)):
        if value is not None and (isinstance(value, bool) or value < 0):
            raise ValueError(f"{name} must be 0 or more. Received: {name}={value}")
    if max_length is None and max_new_tokens is None:
        max_length = DEFAULT_MAX_LENGTH
    # Each row's bound: its prompt and `max_new_tokens`, within `max_length`.
    limits = np.full_like(lengths, np.iinfo("int32").max)
    if max_new_tokens is not None:
        limits = lengths + max_new_tokens
    if max_length is not None:
        if int(lengths.max()) > max_length:
            raise ValueError(
                f"A prompt of {int(lengths.max())} tokens is longer than max_length="
                f"{max_length}; shorten it or raise max_length."
            )
        limits = np.minimum(limits, max_length)
    length = int(limits.max())
    token_ids = np.full((len(rows), _round_up(length, bucket)), pad_token_id, dtype="int32")
    for i, row in enumerate(rows):
        token_ids[i, : len(row)] = row
    return Prompts(token_ids, lengths, limits.astype("int32"), length)


@dataclass(frozen=True)
class Generated:
    """What decoding produced, in keras-hub's layout.

    Row `i` holds its prompt, then the tokens generated for it, up to and
    including its first end token; `padding_mask` marks those positions, and
    `token_ids` holds `pad_token_id` everywhere else.
    """

    token_ids: np.ndarray  # (B, length) int32
    padding_mask: np.ndarray  # (B, length) bool

    def rows(self) -> list[np.ndarray]:
        """Each row's tokens, padding removed."""
        return [ids[keep] for ids, keep in zip(self.token_ids, self.padding_mask, strict=True)]


def finished(
    prompts: Prompts, token_ids: np.ndarray, last: int, stop_token_ids: Sequence[int], pad: int
) -> Generated:
    """The result of decoding up to position `last` (included), as `Generated`."""
    positions = np.arange(token_ids.shape[1])[None, :]
    lengths, limits = prompts.lengths[:, None], prompts.limits[:, None]
    generated = (positions >= lengths) & (positions < limits) & (positions <= last)
    stops = np.isin(token_ids, np.asarray(stop_token_ids, dtype="int32")) & generated
    after_stop = (np.cumsum(stops, axis=1) - stops) > 0
    mask = (positions < lengths) | (generated & ~after_stop)
    width = prompts.length
    return Generated(np.where(mask, token_ids, pad)[:, :width].astype("int32"), mask[:, :width])


def _with_rows(prompts: Prompts, rows: int) -> Prompts:
    """`prompts` with its last row repeated up to `rows` rows (none removed)."""
    extra = rows - prompts.token_ids.shape[0]
    if extra <= 0:
        return prompts

    def grown(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.repeat(values[-1:], extra, axis=0)])

    return Prompts(
        grown(prompts.token_ids), grown(prompts.lengths), grown(prompts.limits), prompts.length
    )


# === The traced functions ===


def _prefill(model: CachedModel, token_ids: Any, lengths: Any, *, prefill_length: int) -> State:
    """Run the prompts' first `prefill_length` positions; the logits of the shortest's last."""
    batch, width = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
    caches = model.empty_caches(batch, width)
    hidden, caches = model.call_with_cache(token_ids[:, :prefill_length], caches, 0)
    index = ops.min(lengths)  # the first position some row generates
    logits = model.logits(ops.take(hidden, index - 1, axis=1))  # (B, V)
    return token_ids, caches, index, logits, ops.zeros((batch,), dtype="bool")


def _choose(state: State, inputs: dict[str, Any], *, greedy: bool) -> tuple[Any, Any, Any]:
    """Fill position `index` of every row: its prompt token, or the sampled one.

    Returns the token ids, the rows now done (an end token generated, or the
    row's limit reached) and the tokens written, `(batch,)`.
    """
    token_ids, _, index, logits, done = state
    uniform = ops.take(inputs["uniforms"], index, axis=1)
    sampled = next_token(
        logits, uniform, inputs["temperature"], inputs["top_k"], inputs["top_p"], greedy=greedy
    )
    in_prompt = ops.less(index, inputs["lengths"])  # (B,)
    token = ops.where(in_prompt, ops.take(token_ids, index, axis=1), sampled)
    token = ops.cast(token, token_ids.dtype)
    token_ids = ops.slice_update(token_ids, (0, index), token[:, None])
    is_stop = ops.any(ops.equal(token[:, None], inputs["stop_token_ids"][None, :]), axis=-1)
    finished_row = ops.logical_or(
        ops.logical_and(is_stop, ops.logical_not(in_prompt)),
        ops.greater_equal(index + 1, inputs["limits"]),
    )
    return token_ids, ops.logical_or(done, finished_row), token


def _advance(
    model: CachedModel, state: State, inputs: dict[str, Any], *, greedy: bool
) -> tuple[State, Any]:
    """Fill position `index`, then run its tokens to get the next position's logits."""
    token_ids, done, token = _choose(state, inputs, greedy=greedy)
    _, caches, index, _, _ = state
    hidden, caches = model.call_with_cache(token[:, None], caches, index)
    logits = model.logits(hidden[:, 0, :])  # (B, V)
    return (token_ids, caches, index + 1, logits, done), token


def _generate(
    model: CachedModel, inputs: dict[str, Any], *, prefill_length: int, greedy: bool
) -> tuple[Any, Any]:
    """The whole generation: prefill, then steps until every row is done.

    Returns the token ids and the last position filled.
    """
    state = _prefill(model, inputs["token_ids"], inputs["lengths"], prefill_length=prefill_length)
    width = ops.shape(inputs["token_ids"])[1]

    def cond(*state: Any) -> Any:
        _, _, index, _, done = state
        return ops.logical_and(ops.less(index, width - 1), ops.logical_not(ops.all(done)))

    def body(*state: Any) -> State:
        return _advance(model, state, inputs, greedy=greedy)[0]

    state = ops.while_loop(cond, body, state)
    token_ids, _, _ = _choose(state, inputs, greedy=greedy)  # the last position, no step after
    return token_ids, state[2]


# === Compilation ===


def _compiled(function: Callable[..., Any], model: CachedModel, jit_compile: bool) -> Any:
    """`function(*tensors)` compiled for the backend, as keras-hub compiles `generate_step`."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=jit_compile)
    if backend == "jax":
        import jax

        variables = model.variables

        def stateless(values: list[Any], *args: Any) -> Any:
            # The weights are arguments: a program with them as constants would
            # copy every one of them into it.
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return function(*args)

        jitted = jax.jit(stateless)
        return lambda *args: jitted([variable.value for variable in variables], *args)
    if backend == "torch":
        import torch

        def eager(*args: Any) -> Any:
            with torch.no_grad():
                return function(*args)

        return eager
    return function


class Decoder:
    """Generation for one causal LM: its compiled functions, kept per shape bucket.

    Args:
        model: the causal LM.
        jit_compile: on TensorFlow, compile `generate` with XLA (a plain graph
            otherwise). `stream` always runs a plain graph there: it calls its
            step from Python for one row, where XLA's compile time (three
            programs) is not won back, and a graph's step is as fast.
    """

    def __init__(self, model: CachedModel, *, jit_compile: bool = True) -> None:
        self.model = model
        self.jit_compile = jit_compile
        self._functions: dict[tuple[Any, ...], Any] = {}
        self.backend = keras.config.backend()
        eager = self.backend not in ("tensorflow", "jax")
        self.prefill_bucket = 1 if eager else PREFILL_BUCKET
        self.length_bucket = 1 if eager else LENGTH_BUCKET

    def _uses_xla(self, jit_compile: bool) -> bool:
        return self.backend == "jax" or (self.backend == "tensorflow" and jit_compile)

    def _min_rows(self, jit_compile: bool) -> int:
        # XLA's CPU backend multiplies a one-row matrix on one thread, two rows or
        # more on all of them: a lone prompt runs beside a copy of itself, which
        # costs little (each step reads every weight once either way) and on two
        # cores halves the step's time.
        return MIN_XLA_ROWS if self._uses_xla(jit_compile) else 1

    def _function(
        self, key: tuple[Any, ...], build: Callable[..., Any], *, jit_compile: bool
    ) -> Any:
        key = (*key, jit_compile)
        if key not in self._functions:
            self._functions[key] = _compiled(build, self.model, jit_compile)
        return self._functions[key]

    def _prefill_length(self, prompts: Prompts) -> int:
        shortest = int(prompts.lengths.min())
        longest = min(prompts.token_ids.shape[1], self.model.max_positions or math.inf)
        return int(min(_round_up(shortest, self.prefill_bucket), longest))

    def _inputs(
        self, prompts: Prompts, sampling: Sampling, stop_token_ids: Sequence[int]
    ) -> dict[str, Any]:
        batch, width = prompts.token_ids.shape
        top_k, top_p = sampling.bounds(self.model.vocabulary_size)
        stops = list(stop_token_ids) or [-1]  # -1: no token is an end
        host = {
            "token_ids": prompts.token_ids,
            "lengths": prompts.lengths,
            "limits": prompts.limits,
            "uniforms": sampling.uniforms(batch, width),
            "stop_token_ids": np.asarray(stops, dtype="int32"),
            "temperature": np.float32(sampling.temperature),
            "top_k": np.int32(top_k),
            "top_p": np.float32(min(top_p, 2.0)),  # anything above 1 keeps every token
        }
        return {name: ops.convert_to_tensor(value) for name, value in host.items()}

    def generate(
        self, prompts: Prompts, sampling: Sampling, stop_token_ids: Sequence[int], pad: int
    ) -> Generated:
        """Every row generated to its end token or its limit, in one compiled call."""
        if int(prompts.lengths.min()) >= int(prompts.limits.max()):
            return finished(prompts, prompts.token_ids, -1, stop_token_ids, pad)
        batch = prompts.token_ids.shape[0]
        run = _with_rows(prompts, self._min_rows(self.jit_compile))
        prefill_length = self._prefill_length(run)
        key = ("generate", prefill_length, sampling.greedy)
        function = self._function(
            key,
            lambda inputs: _generate(
                self.model, inputs, prefill_length=prefill_length, greedy=sampling.greedy
            ),
            jit_compile=self.jit_compile,
        )
        token_ids, last = function(self._inputs(run, sampling, stop_token_ids))
        ids = np.asarray(ops.convert_to_numpy(token_ids))[:batch]
        return finished(prompts, ids, int(ops.convert_to_numpy(last)), stop_token_ids, pad)

    def stream(
        self, prompts: Prompts, sampling: Sampling, stop_token_ids: Sequence[int]
    ) -> Iterator[int]:
        """The tokens of a one-row batch, one at a time as each is chosen.

        Stops after an end token or at the row's limit. Uses the same prefill
        and step as `generate`, so the same seed gives the same tokens.
        """
        if prompts.token_ids.shape[0] != 1:
            raise ValueError(f"stream() takes one prompt. Received: {len(prompts.lengths)}")
        start, limit = int(prompts.lengths[0]), int(prompts.limits[0])
        if start >= limit:
            return
        prompts = _with_rows(prompts, self._min_rows(False))
        greedy = sampling.greedy
        prefill_length = self._prefill_length(prompts)
        model = self.model
        prefill = self._function(
            ("prefill", prefill_length),
            lambda ids, lengths: _prefill(model, ids, lengths, prefill_length=prefill_length),
            jit_compile=False,
        )
        step = self._function(
            ("step", greedy),
            lambda state, inputs: _advance(model, state, inputs, greedy=greedy),
            jit_compile=False,
        )
        last = self._function(
            ("choose", greedy),
            lambda state, inputs: _choose(state, inputs, greedy=greedy)[2],
            jit_compile=False,
        )
        inputs = self._inputs(prompts, sampling, stop_token_ids)
        stops = set(stop_token_ids)
        state = prefill(inputs["token_ids"], inputs["lengths"])
        for _ in range(start, limit - 1):
            state, token = step(state, inputs)
            chosen = int(ops.convert_to_numpy(token)[0])
            yield chosen
            if chosen in stops:
                return
        yield int(ops.convert_to_numpy(last(state, inputs))[0])
