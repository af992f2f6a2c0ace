"""The naming rules of the catalog: namespaces, presets, aliases and tags.

One rule each, with the message that says what it allows; every way in (the
embedded client, the JSON API, the upload form, the CLI) goes through these.
Tags are case-insensitive: they are lowercased before they are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from registry.config import DEFAULT_NAMESPACE
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


# A base model may live elsewhere (the Hub's `Qwen/Qwen2-7B`): its namespace
# follows the Hub's rule for owners (mixed case, '.'), not this catalog's.
BASE_MODEL = NameRule(
    re.compile(
        r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
        r"/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_])?$"
    ),
    "namespace/name, e.g. keras/gpt2_base_en: each part letters, digits, '.', '_' and '-' "
    "(no '..'), starting with a letter or digit and ending with a letter, digit or '_'; "
    "the namespace at most 96 characters, the name at most 128",
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


def check_base_model(value: object, *, of: str | None = None) -> str:
    """The preset name `value` names as a base model, as the catalog keeps it: a
    bare name is qualified with the default namespace (as bare names resolve).

    >>> check_base_model("gpt2_base_en")
    'keras/gpt2_base_en'

    Raises:
        InvalidNameError: `value` is not a string of the `BASE_MODEL` form, or it
            names `of` (the preset itself).
    """
    name = value.strip() if isinstance(value, str) else ""
    if name and "/" not in name:
        name = f"{DEFAULT_NAMESPACE}/{name}"
    if not BASE_MODEL.pattern.match(name) or ".." in name:
        raise InvalidNameError(
            f"base_model {repr(value)[:300]} is not a preset name: use {BASE_MODEL.allowed} "
            "(a bare name is in the default namespace)."
        )
    if of is not None and name == of:
        raise InvalidNameError(
            f"{of} cannot be its own base model; name the preset it was fine-tuned from."
        )
    return name


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
