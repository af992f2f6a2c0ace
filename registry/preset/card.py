"""A preset's model card (`README.md`): its YAML front matter, as the Hub reads it.

The card is the uploader's own text, so it is read defensively: only its head
(at most `MAX_FRONT_MATTER_BYTES`), with YAML's safe loader (no object tags),
and a card that is not valid YAML, or whose front matter is not a mapping, has
no metadata rather than failing anything. Only a field that is there but of the
wrong type is an error, so that the uploader learns why it was not taken.

```
---
base_model: keras/gpt2_base_en      # or a list: the first is taken
license: apache-2.0
---
# My summarizer
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry.errors import PresetFormatError

CARD_FILE = "README.md"
# Front matter is a few lines; a card whose metadata runs past this has none.
MAX_FRONT_MATTER_BYTES = 64 << 10
_FENCE = "---"


def split_front_matter(text: str) -> tuple[str | None, str]:
    """The card's YAML head (None when it has none) and the Markdown after it.

    >>> split_front_matter("---\\nbase_model: a/b\\n---\\n# Card\\n")
    ('base_model: a/b', '# Card\\n')
    """
    lines = text.lstrip().splitlines(keepends=True)  # the Hub allows blank lines first
    if not lines or lines[0].rstrip() != _FENCE:
        return None, text
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() == _FENCE:
            return "".join(lines[1:index]).rstrip("\n"), "".join(lines[index + 1 :])
    return None, text  # never closed: Markdown, as the Hub renders it


def front_matter(text: str) -> dict[str, Any]:
    """The card's front matter as a mapping; empty when it has none, or when it
    is not YAML, or not a mapping (the card is then plain Markdown)."""
    head, _ = split_front_matter(text)
    if head is None or len(head.encode("utf-8", errors="replace")) > MAX_FRONT_MATTER_BYTES:
        return {}
    import yaml  # type: ignore[import-untyped]  # only cards need it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(head, Loader=loader)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def read_card_head(directory: Path) -> str | None:
    """The start of `directory`'s card, enough to hold its front matter; None
    without a card."""
    path = directory / CARD_FILE
    if not path.is_file() or path.is_symlink():
        return None
    with open(path, "rb") as reader:
        head = reader.read(MAX_FRONT_MATTER_BYTES + 2 * len(_FENCE) + 4)
    return head.decode("utf-8", errors="replace")


def card_base_model(directory: Path) -> str | None:
    """The `base_model` the card in `directory` names, unchecked (the catalog's
    naming rules check it): a string, or the first of a list; None when the
    preset has no card or the card no such field.

    Raises:
        PresetFormatError: the field is there but neither a string nor a list
            whose first item is one.
    """
    text = read_card_head(directory)
    value = front_matter(text).get("base_model") if text is not None else None
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    raise PresetFormatError(
        CARD_FILE,
        "the front matter's base_model is neither a preset name nor a list of them. "
        f"Received: base_model={str(value)[:100]!r}",
        "Write `base_model: namespace/name` (or a list of names, the first the base), "
        "or give the base model with the upload (`--base-model`), which takes precedence "
        "over the card.",
    )
