"""The naming rules of the catalog: namespaces, presets, aliases and tags.

One rule each, with the message that says what it allows; every way in (the
embedded client, the JSON API, the upload form, the CLI) goes through these.
Tags are case-insensitive: they are lowercased before they are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from registry.errors import InvalidNameError


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern[str]
    allowed: str  # what the refusal says a valid name is


PRESET = NameRule(
    re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_])?$"),
    "letters, digits, '.', '_' and '-' (no '..', no '/'), starting with a letter or digit "
    "and ending with a letter, digit or '_', at most 128 characters",
)
NAMESPACE = NameRule(
    re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
    "lowercase letters, digits, '_' and '-', starting and ending with a letter or digit, "
    "at most 64 characters",
)
# Aliases are also the Hub's branches and tags, which may hold `/` (`feature/x`).
_ALIAS_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?"
ALIAS = NameRule(
    re.compile(rf"^(?=.{{1,64}}$){_ALIAS_PART}(?:/{_ALIAS_PART})*$"),
    "letters, digits, '.', '_' and '-', in parts separated by single '/' (no '..'), each "
    "starting with a letter or digit and ending with a letter, digit or '_', at most 64 "
    "characters",
)
TAG = NameRule(
    re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    "letters, digits, '.', '_' and '-' (lowercased), starting with a letter or digit, "
    "at most 64 characters",
)


def check_name(kind: str, value: str, rule: NameRule = PRESET) -> str:
    """Return `value` if it is a valid name of `kind`, else raise InvalidNameError."""
    if not isinstance(value, str) or not rule.pattern.match(value) or ".." in value:
        raise InvalidNameError(f"{kind} {value!r} is not a valid name: use {rule.allowed}.")
    return value


def check_preset_name(namespace: str, name: str) -> None:
    """Raise InvalidNameError unless `namespace/name` may name a preset."""
    check_name("namespace", namespace, NAMESPACE)
    check_name("preset", name)


def normalize_tags(values: Iterable[str]) -> tuple[str, ...]:
    """Tags as the catalog keeps them: comma-separated values split, trimmed,
    lowercased, each checked, duplicates dropped (first occurrence kept).

    >>> normalize_tags(["GPT2", "text, Demo"])
    ('gpt2', 'text', 'demo')
    """
    tags: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            tag = part.strip().lower()
            if tag:
                tags[check_name("tag", tag, TAG)] = None
    return tuple(tags)
