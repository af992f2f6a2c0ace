"""Guards for reading JSON a preset brings: no key twice in one object, bounded depth.

Shared by the preset's own files (`registry.preset.format`) and its tokenizer's
(`registry.architectures.tokenizer_files`), which sit at different layers.
"""

from __future__ import annotations

from typing import Any


class DuplicateKeyError(ValueError):
    """A JSON object sets one key twice (which one counts is up to the reader)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} is set twice in one object")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`'s `object_pairs_hook` refusing a key set twice."""
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise DuplicateKeyError(key)
        body[key] = value
    return body


def depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest
