"""Weight initializers that can be skipped when weights are about to be loaded.

Building a 1.5B-parameter backbone spends seconds drawing random numbers that
`from_preset` then overwrites. Architectures ask this module for their random
initializers; inside `skipped_initializers()` they get zeros instead, which
costs one memory fill and no random draws.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import keras

_SKIPPING = contextvars.ContextVar("registry_skip_initializers", default=False)


def skippable(initializer: keras.initializers.Initializer | str) -> keras.initializers.Initializer:
    """`initializer` (an instance or a Keras name), or zeros while loading weights."""
    if _SKIPPING.get():
        return keras.initializers.Zeros()
    return keras.initializers.get(initializer)


def random_normal(stddev: float) -> keras.initializers.Initializer:
    """A `RandomNormal(stddev)` initializer, or zeros while loading weights."""
    return skippable(keras.initializers.RandomNormal(stddev=stddev))


@contextlib.contextmanager
def skipped_initializers(skip: bool = True) -> Iterator[None]:
    """Within this block, architectures build their weights without random draws."""
    token = _SKIPPING.set(skip)
    try:
        yield
    finally:
        _SKIPPING.reset(token)
