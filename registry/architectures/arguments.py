"""A backbone's arguments, merged over its defaults and checked, without Keras.

Each architecture's `check_arguments` refuses what its backbone cannot build
before anything is built: `merged_arguments` refuses unknown and missing
arguments, and the `Arguments` it returns checks each argument's range. Every
check raises ValueError naming the argument and the value it received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Arguments every Keras model takes.
BASE_ARGUMENTS = frozenset({"name", "trainable", "dtype"})


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


class Arguments(dict[str, Any]):
    """A backbone's arguments over its defaults, with the checks architectures share."""

    def positive_ints(self, *names: str) -> None:
        for name in names:
            positive_int(name, self[name])

    def positive_numbers(self, *names: str, optional: bool = False) -> None:
        """Each of `names` is a number above zero (or None, if `optional`)."""
        kind = "a positive number or None" if optional else "a positive number"
        for name in names:
            value = self[name]
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")

    def probability(self, name: str) -> None:
        value = self[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")

    def divisible(self, name: str, by: str) -> None:
        """The argument `name` is a multiple of the argument `by`."""
        if self[name] % self[by] != 0:
            raise ValueError(
                f"`{name}` must be divisible by `{by}`. Received: "
                f"{name}={self[name]}, {by}={self[by]}"
            )


def merged_arguments(
    arguments: Mapping[str, Any], required: tuple[str, ...], defaults: Mapping[str, Any]
) -> Arguments:
    """`arguments` over `defaults`, refusing unknown and missing ones (ValueError)."""
    merged = Arguments({**defaults, **arguments})
    unknown = sorted(set(merged) - set(required) - set(defaults) - BASE_ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}")
    missing = [name for name in required if name not in merged]
    if missing:
        raise ValueError(f"missing required argument(s) {missing}")
    return merged
