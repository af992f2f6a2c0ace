"""Reading a preset's config as data: its format, its architecture, its arguments.

Nothing here imports a module or unpickles a file because a preset says so: the
class comes from the allow-list (`registry.architectures.allowlist`) by
`registered_name` / `class_name`, and the `module` a config names is only
compared with the modules known for that class.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.architectures import allowlist
from registry.architectures.spec import ArchitectureSpec
from registry.errors import PresetFileMissingError, PresetFormatError, UnsafePresetError
from registry.jsonfile import DuplicateKeyError, depth, unique_keys

if TYPE_CHECKING:
    pass

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
SHARDED_WEIGHTS_FILE = "model.weights.json"
MAX_JSON_BYTES = 1 << 20
# Other JSON files may be large (a transformers tokenizer.json holds the whole
# vocabulary: 9 MB for Llama 3, 33 MB for Gemma 3): read as a stream, never whole.
MAX_DATA_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 32
# Read whole, with `read_json`, by the loader and the validator.
CONFIG_JSON_FILES = frozenset({"config.json", "metadata.json", "task.json"})
# Weight formats that are pickles: opening one can run arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_DTYPE_POLICIES = frozenset(
    {"float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "float64"}
)


class PresetKind(enum.Enum):
    """The two on-disk formats a preset directory may have."""

    KERAS = "keras"  # keras-hub's config.json + model.weights.h5
    TRANSFORMERS = "transformers"  # Hugging Face config.json + model.safetensors


def read_json(path: Path, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """Read a JSON object from `path`, refusing oversized or malformed files.

    Raises:
        PresetFileMissingError: the file does not exist.
        PresetFormatError: it is too large, not UTF-8, not JSON, too deeply
            nested, or not a JSON object.
    """
    if not path.is_file():
        raise PresetFileMissingError(
            path, "does not exist.", "Every preset needs it; check the directory."
        )
    _check_size(path, max_bytes)
    try:
        body = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=unique_keys)
    except DuplicateKeyError as error:
        raise _refusal(error, path) from error
    except UnicodeDecodeError as error:
        raise PresetFormatError(
            path, f"is not UTF-8 ({error.reason}).", "Save it as UTF-8 JSON."
        ) from error
    except RecursionError as error:
        raise PresetFormatError(
            path, "is nested too deeply to be a config.", "Fix or replace the file."
        ) from error
    except ValueError as error:
        raise PresetFormatError(
            path, f"is not valid JSON ({error}).", "Fix or replace the file."
        ) from error
    if not isinstance(body, dict):
        raise PresetFormatError(
            path, f"holds a JSON {type(body).__name__}, not an object.", "Fix the file."
        )
    if depth(body) > MAX_JSON_DEPTH:
        raise PresetFormatError(
            path,
            f"is nested more than {MAX_JSON_DEPTH} levels deep; no preset config is.",
            "Fix or replace the file.",
        )
    return body


def check_json_file(path: Path, *, max_bytes: int = MAX_DATA_JSON_BYTES) -> None:
    """Hold any JSON file to the rules of `read_json` (size, UTF-8, one value,
    no key twice in an object, at most MAX_JSON_DEPTH levels), reading it as a
    stream of events, so memory stays flat whatever its size.

    Raises:
        PresetFormatError: it breaks one of the rules (the message says which).
    """
    import ijson

    _check_size(path, max_bytes)
    shape = _Shape(path)
    try:
        with open(path, "rb") as file:
            for event, value in ijson.basic_parse(file, use_float=True):
                shape.see(event, value)
    except DuplicateKeyError as error:
        raise _refusal(error, path) from error
    except (ijson.JSONError, UnicodeDecodeError) as error:
        raw = error.args[0] if error.args else error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        reason = text.strip().splitlines()[0].rstrip(".") if text.strip() else type(error).__name__
        utf8 = isinstance(error, UnicodeDecodeError) or "UTF8" in reason or not _is_utf8(path)
        problem = f"is not UTF-8 ({reason})" if utf8 else f"is not valid JSON ({reason})"
        raise PresetFormatError(path, f"{problem}.", "Fix or replace the file.") from error


def check_json_files(directory: Path) -> None:
    """Every JSON file of a preset, held to the same rules (configs at their
    smaller limit); `manifest.json` is the registry's own and read by its reader."""
    for path in sorted(directory.rglob("*.json")):
        if path.is_file() and path.relative_to(directory).as_posix() != "manifest.json":
            limit = (
                MAX_JSON_BYTES
                if path.parent == directory and path.name in CONFIG_JSON_FILES
                else MAX_DATA_JSON_BYTES
            )
            check_json_file(path, max_bytes=limit)


def _is_utf8(path: Path) -> bool:
    """Whether a file decodes as UTF-8 (asked only of a file already refused)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Shape:
    """The nesting of a JSON stream: its depth, and each open object's keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.open: list[set[str] | None] = []  # per level: an object's keys; None, an array

    def see(self, event: str, value: Any) -> None:
        if event in ("start_map", "start_array"):
            self.open.append(set() if event == "start_map" else None)
            if len(self.open) > MAX_JSON_DEPTH:
                raise PresetFormatError(
                    self.path,
                    f"is nested more than {MAX_JSON_DEPTH} levels deep; no preset file is.",
                    "Fix or replace the file.",
                )
        elif event in ("end_map", "end_array"):
            self.open.pop()
        elif event == "map_key" and (keys := self.open[-1]) is not None:
            if value in keys:
                raise DuplicateKeyError(value)
            keys.add(value)


def _refusal(error: DuplicateKeyError, path: Path) -> PresetFormatError:
    return PresetFormatError(
        path,
        f"sets the key {error.key!r} twice in one object; which one counts is ambiguous.",
        "Keep one of them.",
    )


def _check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise PresetFormatError(
            path,
            f"is {size} bytes, over the {max_bytes}-byte limit for JSON files.",
            "Remove what a preset does not need, or ship it in another format.",
        )


def refuse_code(path: Path, config: dict[str, Any]) -> None:
    """Refuse configs that name classes outside the allow-list anywhere, or
    carry dunder keys (`__class__`, `__reduce__`): config is data, never code.

    Raises:
        UnsafePresetError: naming the offending class or key.
    """
    # The allow-list's classes, and the dtype policies a `dtype` argument may
    # hold. Anything else (Lambda, TFSMLayer, `os.system`, ...) is code, not data.
    allowed = allowlist.DTYPE_POLICY_CLASSES | allowlist.config_class_names()
    stack: list[Any] = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key.startswith("__"):
                raise UnsafePresetError(
                    path,
                    f"has the key {key!r}; presets are plain data and never name Python internals.",
                    "Remove it; save the preset again with `save_to_preset()`.",
                )
            if key == "class_name" and value not in allowed:
                raise UnsafePresetError(
                    path,
                    f"names class_name={value!r}, which is not an allowed architecture or "
                    "dtype policy. Lambda layers, custom objects and modules are never loaded.",
                    f"Allowed classes: {', '.join(sorted(allowed))}.",
                )
            stack.append(value)


def detect_kind(directory: Path) -> tuple[PresetKind, dict[str, Any]]:
    """Tell a keras-hub preset from a transformers checkpoint by its config."""
    path = directory / CONFIG_FILE
    config = read_json(path)
    # The top-level class is checked against the allow-list by `architecture_spec`.
    refuse_code(path, {key: value for key, value in config.items() if key != "class_name"})
    if "registered_name" in config or "class_name" in config:
        return PresetKind.KERAS, config
    if "model_type" in config:
        return PresetKind.TRANSFORMERS, config
    raise PresetFormatError(
        path,
        "is neither a Keras config (`class_name`, `registered_name`) nor a "
        "transformers config (`model_type`).",
        "Save the preset with `save_to_preset()` or transformers' `save_pretrained()`.",
    )


def _refuse_class(path: Path, config: dict[str, Any]) -> UnsafePresetError:
    allowed = ", ".join(
        f"{name} ({' or '.join(spec.registered_names)})" for name, spec in allowlist.specs().items()
    )
    return UnsafePresetError(
        path,
        f"names class_name={config.get('class_name')!r}, "
        f"registered_name={config.get('registered_name')!r}, "
        f"module={config.get('module')!r}, which is not an allowed architecture.",
        f"Allowed classes: {allowed}. The module a config names is never imported.",
    )


def architecture_spec(path: Path, config: dict[str, Any]) -> ArchitectureSpec:
    """The allow-listed architecture a Keras `config.json` names (no Keras import).

    Raises:
        UnsafePresetError: the class, registered name or module is not one of
            an allowed architecture's.
    """
    spec = allowlist.spec_for_config(
        config.get("registered_name"), config.get("class_name"), config.get("module")
    )
    if spec is None:
        raise _refuse_class(path, config)
    return spec


def _dtype_argument(path: Path, dtype: Any) -> Any:
    """A config's `dtype` as a policy name, accepting only plain dtype policies."""
    if dtype is None:
        return None
    name = dtype
    if isinstance(dtype, dict):
        allowed_class = dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy")
        inner = dtype.get("config")
        if dtype.get("module") != "keras" or not allowed_class or not isinstance(inner, dict):
            raise UnsafePresetError(
                path,
                f"has a `dtype` that is not a plain Keras DTypePolicy: {dtype!r}.",
                f"Use one of {sorted(_DTYPE_POLICIES)}.",
            )
        name = inner.get("name")
    if name not in _DTYPE_POLICIES:
        raise PresetFormatError(
            path,
            f"has an unsupported dtype {name!r}.",
            f"Use one of {sorted(_DTYPE_POLICIES)}.",
        )
    return name


def backbone_arguments(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments a Keras `config.json` holds, checked as data."""
    arguments = config.get("config")
    if not isinstance(arguments, dict):
        raise PresetFormatError(
            path,
            "has no `config` object with the backbone's arguments.",
            "Fix the file.",
        )
    arguments = dict(arguments)
    if "dtype" in arguments:
        arguments["dtype"] = _dtype_argument(path, arguments["dtype"])
    return arguments


def refuse_pickles(directory: Path, *, found_safe_weights: bool) -> None:
    """Refuse a directory whose only weights are pickles (never opened here)."""
    if found_safe_weights:
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafePresetError(
            directory / pickles[0],
            "is a pickle checkpoint; loading a pickle can run arbitrary code, so it is refused.",
            "Convert it to safetensors (in transformers: "
            "`model.save_pretrained(dir, safe_serialization=True)`) and load that.",
        )
