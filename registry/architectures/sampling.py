"""How the next token is chosen from a causal LM's logits: greedy, top-k or top-p.

The choices follow keras-hub's samplers: probabilities are computed in float32
from `logits / temperature`; top-k keeps the `k` most likely tokens; top-p keeps
the most likely tokens until the probability mass before the next one passes
`p` (the first token always stays), within the `k` most likely if `k` is given
too. A token is then drawn from what is kept, in proportion to its probability.

The draw is inverse-CDF sampling with a uniform number per row and position,
made on the host by NumPy from `seed` (`uniforms`): the same seed gives the
same tokens on every Keras backend, compiled or not, and a row's tokens do not
depend on the other rows of its batch. `k` and `p` are tensors, not constants
of the compiled loop, so changing them compiles nothing again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from keras import ops

SamplerName = Literal["greedy", "top_k", "top_p"]
SAMPLERS: tuple[SamplerName, ...] = ("greedy", "top_k", "top_p")
# keras-hub's defaults: `TopKSampler(k=5)`, `TopPSampler(p=0.1)`.
DEFAULT_TOP_K = 5
DEFAULT_TOP_P = 0.1


@dataclass(frozen=True)
class Sampling:
    """A sampler and its settings, checked.

    Args:
        sampler: "greedy" (the most likely token), "top_k" or "top_p".
        temperature: divides the logits before the softmax; above 0.
        top_k: the number of most likely tokens "top_k" draws from (default
            5, keras-hub's); with "top_p", an optional bound on them as well.
        top_p: the probability mass "top_p" draws from, in (0, 1] (default
            0.1, keras-hub's).
        seed: the seed of the draws; None draws a fresh one.

    Raises:
        ValueError: an unknown sampler or a setting out of range.
    """

    sampler: SamplerName = "greedy"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(
                f"Unknown sampler {self.sampler!r}; use one of {list(SAMPLERS)}. "
                f"Received: sampler={self.sampler!r}"
            )
        if not (isinstance(self.temperature, int | float) and self.temperature > 0):
            raise ValueError(
                f"temperature must be above 0. Received: temperature={self.temperature}"
            )
        if self.top_k is not None and (isinstance(self.top_k, bool) or self.top_k < 1):
            raise ValueError(f"top_k must be 1 or more. Received: top_k={self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1]. Received: top_p={self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.sampler == "greedy"

    def bounds(self, vocabulary_size: int) -> tuple[int, float]:
        """`(k, p)`: how many tokens to keep, and the mass before the last one kept.

        Infinite `p` keeps every token of the `k` (top-k alone).
        """
        if self.sampler == "top_k":
            return min(self.top_k or DEFAULT_TOP_K, vocabulary_size), math.inf
        k = min(self.top_k or vocabulary_size, vocabulary_size)
        return k, DEFAULT_TOP_P if self.top_p is None else self.top_p

    def uniforms(self, batch: int, length: int) -> np.ndarray:
        """One uniform draw in [0, 1) per row and position, `(batch, length)` float32.

        Row `i` draws from its own stream (`seed`, `i`), so its numbers do not
        depend on the batch size or on how far the rows are padded.
        """
        entropy = np.random.SeedSequence().entropy if self.seed is None else self.seed
        seed = int(entropy)  # type: ignore[arg-type]
        rows = [
            np.random.default_rng([seed, row]).random(length, np.float32) for row in range(batch)
        ]
        return np.stack(rows)


def next_token(
    logits: Any, uniform: Any, temperature: Any, top_k: Any, top_p: Any, *, greedy: bool
) -> Any:
    """The chosen token of each row, `(batch,)` int32.

    Args:
        logits: `(batch, vocabulary)`, the model's logits for the next position.
        uniform: `(batch,)` float32 in [0, 1), this position's draw of each row.
        temperature: scalar float tensor.
        top_k: scalar int tensor, the number of most likely tokens kept.
        top_p: scalar float tensor, the mass before the last token kept.
        greedy: take the most likely token (the other arguments are unused).
    """
    logits = ops.cast(logits, "float32")
    if greedy:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    probabilities = ops.softmax(ops.divide(logits, temperature), axis=-1)  # (B, V)
    vocabulary = ops.shape(probabilities)[-1]
    ranked, order = ops.top_k(probabilities, k=vocabulary, sorted=True)  # (B, V) each
    mass = ops.cumsum(ranked, axis=-1)
    # A token stays when the mass of those before it is within `p` (the first always).
    within_p = ops.concatenate(
        [ops.ones_like(mass[:, :1], dtype="bool"), ops.less_equal(mass[:, :-1], top_p)], axis=-1
    )
    within_k = ops.less(ops.arange(vocabulary, dtype="int32"), top_k)[None, :]
    kept = ops.where(ops.logical_and(within_p, within_k), ranked, 0.0)
    cdf = ops.cumsum(kept, axis=-1)
    target = ops.multiply(uniform[:, None], cdf[:, -1:])  # (B, 1)
    # The first kept token whose cumulative mass passes the target.
    choice = ops.sum(ops.cast(ops.less_equal(cdf, target), "int32"), axis=-1)
    choice = ops.minimum(choice, vocabulary - 1)
    token = ops.take_along_axis(order, choice[:, None], axis=-1)  # (B, 1)
    return ops.cast(token[:, 0], "int32")
