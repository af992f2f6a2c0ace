"""A tokenizer's files, read as data: size limits, JSON rules, and which class reads them.

Both formats are checked before any library reads them: sizes (a transformers
`tokenizer.json` holds a whole vocabulary, 9 MB for Llama 3 and 33 MB for Gemma
3), UTF-8 JSON without repeated keys or deep nesting, configs that name no class
but the allow-list's tokenizers and a dtype policy, and no custom code
(`auto_map`). Nothing a preset names is imported: the class comes from the
architectures' specs.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.architectures import allowlist
from registry.architectures.spec import ArchitectureSpec, TokenizerSpec
from registry.errors import PresetFileMissingError, PresetFormatError, UnsafePresetError
from registry.jsonfile import depth, unique_keys

if TYPE_CHECKING:
    import tokenizers

# A `Tokenizer` subclass, typed loosely: `tokenizer.py` imports this module.
TokenizerClass = type[Any]

KERAS_HUB_CONFIG = "tokenizer.json"
ASSET_DIR = Path("assets") / "tokenizer"
TRANSFORMERS_TOKENIZER = "tokenizer.json"
SENTENCEPIECE_MODEL = "tokenizer.model"
TRANSFORMERS_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
MODEL_CONFIG = "config.json"
# keras-hub's tokenizer.json is a few hundred bytes; a transformers tokenizer.json
# holds a whole vocabulary (9 MB for Llama 3, 33 MB for Gemma 3), as do
# vocabularies and SentencePiece models: the registry's limit for data files.
MAX_CONFIG_BYTES = 1 << 20
MAX_DATA_BYTES = 64 << 20
_MAX_JSON_DEPTH = 32
_FIX_SAVE = "Save the tokenizer again with keras-hub's or this registry's `save_to_preset()`."


# === Reading a preset's files as data ===


def _check_size(path: Path, max_bytes: int) -> None:
    if not path.is_file():
        raise PresetFileMissingError(path, "does not exist.", f"A tokenizer needs it. {_FIX_SAVE}")
    size = path.stat().st_size
    if size > max_bytes:
        raise PresetFormatError(
            path,
            f"is {size} bytes, over the {max_bytes}-byte limit for tokenizer files.",
            "Ship a smaller vocabulary, or the tokenizer in another format.",
        )


def read_json(path: Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """One JSON value from `path`: UTF-8, no key twice in an object, not deeper than 32.

    Raises:
        PresetFileMissingError: the file does not exist.
        PresetFormatError: it is too large or not such JSON.
    """
    _check_size(path, max_bytes)
    try:
        body = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=unique_keys)
    except UnicodeDecodeError as error:
        raise PresetFormatError(path, f"is not UTF-8 ({error.reason}).", _FIX_SAVE) from error
    except (ValueError, RecursionError) as error:
        raise PresetFormatError(path, f"is not valid JSON ({error}).", _FIX_SAVE) from error
    if depth(body) > _MAX_JSON_DEPTH:
        raise PresetFormatError(path, "is nested too deeply to be a tokenizer file.", _FIX_SAVE)
    return body


def read_json_object(path: Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    """`read_json`, refusing anything but a JSON object."""
    body = read_json(path, max_bytes=max_bytes)
    if not isinstance(body, dict):
        raise PresetFormatError(
            path, f"holds a JSON {type(body).__name__}, not an object.", _FIX_SAVE
        )
    return body


def read_bytes(path: Path) -> bytes:
    """A data file's bytes (a SentencePiece model), within the size limit."""
    _check_size(path, MAX_DATA_BYTES)
    return path.read_bytes()


def read_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines, each without its trailing whitespace (as keras-hub reads them)."""
    _check_size(path, MAX_DATA_BYTES)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PresetFormatError(path, f"is not UTF-8 ({error.reason}).", _FIX_SAVE) from error
    return [line.rstrip() for line in text.splitlines()]


def option(path: Path, config: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    """A tokenizer config's argument `name`, which must be a `kind` (or null, for `default`)."""
    value = config.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PresetFormatError(
            path,
            f"sets {name} to {value!r}, which is not a {kind.__name__}.",
            f"Fix the file. {_FIX_SAVE}",
        )
    return value


def string_list(path: Path, config: Mapping[str, Any], name: str) -> list[str] | None:
    """A tokenizer config's list of strings `name`, or None where it is absent or null."""
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PresetFormatError(
            path, f"sets {name} to {value!r}, which is not a list of strings.", _FIX_SAVE
        )
    return value


def malformed(path: Path, error: Exception) -> PresetFormatError:
    """A library's refusal of a tokenizer file, as the registry's error naming the file."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return PresetFormatError(
        path, f"is not a tokenizer file this registry reads ({reason}).", _FIX_SAVE
    )


# === The two formats ===


def load_tokenizers_file(path: Path) -> tokenizers.Tokenizer:
    """A transformers `tokenizer.json` as a `tokenizers.Tokenizer`, without padding or truncation.

    transformers' `tokenizer(text)` pads and truncates only when asked, whatever
    the file sets.
    """
    import tokenizers

    _check_size(path, MAX_DATA_BYTES)  # before the library reads it whole
    try:
        pipeline = tokenizers.Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust library raises plain Exception
        raise malformed(path, error) from error
    pipeline.no_padding()
    pipeline.no_truncation()
    return pipeline


@dataclass(frozen=True)
class TransformersFiles:
    """A transformers checkpoint's tokenizer files, read as data."""

    directory: Path
    pipeline: tokenizers.Tokenizer | None  # tokenizer.json, if there
    sentencepiece: Path | None  # tokenizer.model, if there
    config: Mapping[str, Any]  # tokenizer_config.json, then special_tokens_map.json

    @property
    def kind(self) -> str:
        """`byte_level`, `wordpiece` or `sentencepiece`: the checkpoint's tokenizer model."""
        if self.pipeline is None:
            return "sentencepiece"
        model = self.pipeline.model
        kind = type(model).__name__
        if kind == "WordPiece":
            return "wordpiece"
        if kind == "BPE" and not getattr(model, "byte_fallback", False):
            return "byte_level"
        return "sentencepiece"

    def require_pipeline(self, kind: str) -> tokenizers.Tokenizer:
        if self.pipeline is None:
            raise PresetFileMissingError(
                self.directory / TRANSFORMERS_TOKENIZER,
                f"is missing: {kind} tokenizer lives in tokenizer.json.",
                "Save the tokenizer with transformers' `save_pretrained()`.",
            )
        return self.pipeline

    def special(self, name: str) -> str | None:
        """A special token the configs name (`bos_token`), as its text."""
        value = self.config.get(name)
        if isinstance(value, dict):  # an AddedToken: {"content": ..., "lstrip": ...}
            value = value.get("content")
        return value if isinstance(value, str) else None

    def flag(self, name: str, default: bool) -> bool:
        value = self.config.get(name)
        return value if isinstance(value, bool) else default


@dataclass(frozen=True)
class KerasHubFiles:
    """What keras-hub's `save_to_preset` writes for a tokenizer: its config and assets."""

    config: dict[str, Any]  # `tokenizer.json`'s `config`
    assets: dict[str, bytes]  # file name in `assets/tokenizer/` -> bytes


def keras_hub_layer_config(name: str, **arguments: Any) -> dict[str, Any]:
    """A keras-hub tokenizer layer's `get_config()`: the layer's fields, then `arguments`."""
    return {
        "name": name,
        "trainable": True,
        "dtype": {
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": "int32"},
            "registered_name": None,
        },
        "config_file": KERAS_HUB_CONFIG,
        **arguments,
    }


# === Which class ===


def tokenizer_specs() -> list[TokenizerSpec]:
    return [tokenizer for spec in allowlist.specs().values() for tokenizer in spec.tokenizers]


def tokenizer_class(spec: TokenizerSpec) -> TokenizerClass:
    """This registry's class of a tokenizer spec (imports the folder's `tokenizer.py`)."""
    cls: TokenizerClass = getattr(importlib.import_module(spec.module), spec.class_name)
    return cls


def keras_hub_config(directory: Path) -> dict[str, Any] | None:
    """keras-hub's `tokenizer.json`, if that is what the directory holds.

    Both formats name their file `tokenizer.json`: keras-hub's is a small
    serialized layer (`class_name`, `config`); transformers' a pipeline (`model`).
    """
    path = directory / KERAS_HUB_CONFIG
    if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
        return None
    body = read_json_object(path)
    if "model" in body:
        return None
    if not ({"class_name", "registered_name"} & body.keys()):
        raise PresetFormatError(
            path,
            "is neither keras-hub's tokenizer config (`class_name`, `config`) nor a "
            "transformers tokenizer (`model`).",
            "Save the tokenizer with keras-hub's `save_to_preset()` or transformers' "
            "`save_pretrained()`.",
        )
    return body


def _refuse_code(path: Path, node: Any) -> None:
    """Refuse any class but a dtype policy inside a config, and dunder keys: config is data."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key.startswith("__") or (
                    key == "class_name" and value not in allowlist.DTYPE_POLICY_CLASSES
                ):
                    raise UnsafePresetError(
                        path,
                        f"holds {key}={value!r} inside its config; a tokenizer config is "
                        "plain data and names no classes or Python internals.",
                        f"Remove it. {_FIX_SAVE}",
                    )
                stack.append(value)


def keras_hub_class(directory: Path, body: dict[str, Any]) -> TokenizerClass:
    """The allow-listed class keras-hub's `tokenizer.json` names (never the module it names)."""
    path = directory / KERAS_HUB_CONFIG
    registered, class_name, module = (
        body.get("registered_name"),
        body.get("class_name"),
        body.get("module"),
    )
    for spec in tokenizer_specs():
        names_it = registered in spec.registered_names or (
            registered is None and class_name == spec.class_name
        )
        module_known = module is None or module in spec.config_modules
        if names_it and class_name == spec.class_name and module_known:
            if not isinstance(body.get("config"), dict):
                raise PresetFormatError(path, "has no `config` object.", _FIX_SAVE)
            _refuse_code(path, body["config"])
            return tokenizer_class(spec)
    allowed = ", ".join(sorted(spec.registered_names[0] for spec in tokenizer_specs()))
    raise UnsafePresetError(
        path,
        f"names class_name={class_name!r}, registered_name={registered!r}, "
        f"module={module!r}, which is not an allowed tokenizer; its module is never imported.",
        f"Allowed tokenizers: {allowed}. {_FIX_SAVE}",
    )


def transformers_files(directory: Path) -> TransformersFiles:
    tokenizer_json = directory / TRANSFORMERS_TOKENIZER
    sentencepiece = directory / SENTENCEPIECE_MODEL
    if not tokenizer_json.is_file() and not sentencepiece.is_file():
        raise PresetFileMissingError(
            directory,
            "holds no tokenizer: no tokenizer.json (keras-hub's or transformers') "
            "and no tokenizer.model.",
            "Add the tokenizer the model was trained with: keras-hub's "
            "`tokenizer.save_to_preset(dir)` or transformers' `tokenizer.save_pretrained(dir)`.",
        )
    config: dict[str, Any] = {}
    for name in (SPECIAL_TOKENS_MAP, TRANSFORMERS_CONFIG):  # the second wins
        if (directory / name).is_file():
            config.update(read_json_object(directory / name, max_bytes=MAX_DATA_BYTES))
    _refuse_remote_code(directory / TRANSFORMERS_CONFIG, config)
    return TransformersFiles(
        directory=directory,
        pipeline=load_tokenizers_file(tokenizer_json) if tokenizer_json.is_file() else None,
        sentencepiece=sentencepiece if sentencepiece.is_file() else None,
        config=config,
    )


def _refuse_remote_code(path: Path, config: Mapping[str, Any]) -> None:
    if "auto_map" in config:
        raise UnsafePresetError(
            path,
            "names custom tokenizer code (`auto_map`); code a preset ships is never run.",
            "Save the tokenizer with one of transformers' own classes.",
        )


def _model_spec(files: TransformersFiles) -> ArchitectureSpec | None:
    """The architecture the checkpoint's `config.json` `model_type` names, if any."""
    path = files.directory / MODEL_CONFIG
    if not path.is_file():
        return None
    body = read_json(path)
    return allowlist.spec_for_model_type(body.get("model_type") if isinstance(body, dict) else None)


def transformers_class(files: TransformersFiles) -> TokenizerClass:
    """The class of a transformers checkpoint's tokenizer.

    Its `config.json`'s `model_type` names the architecture; its
    `tokenizer_config.json`'s `tokenizer_class` the class, or, for a generic
    class (`PreTrainedTokenizerFast`), the kind of model its files hold.
    """
    spec = _model_spec(files)
    specs = spec.tokenizers if spec is not None else tuple(tokenizer_specs())
    classes = [tokenizer_class(tokenizer) for tokenizer in specs]
    kind = files.kind
    named = files.config.get("tokenizer_class")
    for cls in classes:
        if named in cls.transformers_classes and cls.transformers_kind == kind:
            return cls
    if spec is not None:
        for cls in classes:
            if cls.transformers_kind == kind:
                return cls
    known = sorted({name for cls in classes for name in cls.transformers_classes})
    raise UnsafePresetError(
        files.directory / TRANSFORMERS_CONFIG,
        f"names tokenizer_class={named!r} over a {kind} tokenizer, which is not one this "
        "registry reads; no tokenizer code a preset names is imported.",
        f"Tokenizer classes read: {', '.join(known)}. A checkpoint's config.json with its "
        "model_type lets the architecture decide.",
    )


def write_atomically(target: Path, body: bytes) -> None:
    """Write `body` beside `target`, then move it into place: a reader sees the old file or
    the new one. The temporary file is named as `registry.preset.atomic` names its own, so
    a crash's leftover is known for one."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(body)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
