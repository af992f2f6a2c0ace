"""Hugging Face transformers GPT-2 checkpoints -> `GPT2Backbone`.

Every dimension comes from the checkpoint's tensor shapes (only the head count
must come from `config.json`), so `n_inner` may be null or any width. Weights
are read from safetensors only; pickles are refused. The conversion is one
table from transformers keys to Keras variables, as keras-hub's
`convert_gpt2.py` and nanoGPT's loader are.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    WeightsMismatchError,
)
from registry.preset.format import CONFIG_FILE, read_json, refuse_pickles

if TYPE_CHECKING:
    from registry.architectures.gpt2 import GPT2Backbone

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
# GPT-2's "gelu_new" is GELU with the tanh approximation, as GPT2Backbone uses.
_TANH_GELUS = frozenset({"gelu_new", "gelu_pytorch_tanh"})
# Buffers and tied heads that transformers may save and that carry no weights.
_IGNORED = re.compile(r"^(lm_head\.weight|h\.\d+\.attn\.(bias|masked_bias))$")
_LAYER_KEY = re.compile(r"^h\.(\d+)\.")

Transform = Callable[[np.ndarray], list[np.ndarray]]


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of a safetensors checkpoint: which file holds each, and its shape."""

    directory: Path
    files: dict[str, Path]  # key without "transformer." -> file
    shapes: dict[str, tuple[int, ...]]
    prefix: str  # "transformer." for GPT2LMHeadModel checkpoints, else ""

    @contextlib.contextmanager
    def reader(self) -> Iterator[Callable[[str], np.ndarray]]:
        """Open each weight file once; yield a function reading one tensor."""
        from safetensors import SafetensorError, safe_open

        with contextlib.ExitStack() as stack:
            handles = {
                path: stack.enter_context(safe_open(path, framework="numpy"))
                for path in set(self.files.values())
            }

            def read(key: str) -> np.ndarray:
                path = self.files[key]
                try:
                    return np.asarray(handles[path].get_tensor(self.prefix + key))
                except (SafetensorError, OSError, ValueError, TypeError) as error:
                    raise PresetFormatError(
                        path,
                        f"cannot read tensor `{self.prefix + key}` ({error}).",
                        "The file is truncated or corrupted; fetch it again.",
                    ) from error

            yield read


def is_ignored_tensor(key: str) -> bool:
    """Tensors of a checkpoint that GPT2Backbone has no weight for (buffers, tied head)."""
    return bool(_IGNORED.match(key))


def _weight_files(directory: Path) -> list[Path]:
    index = directory / SAFETENSORS_INDEX_FILE
    if (directory / SAFETENSORS_FILE).is_file():
        return [directory / SAFETENSORS_FILE]
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise PresetFormatError(index, "has no `weight_map` object.", "Fix the file.")
        names = sorted({str(name) for name in weight_map.values()})
        if any(Path(name).name != name for name in names):
            raise PresetFormatError(
                index, "names weight files outside the checkpoint directory.", "Fix it."
            )
        return [directory / name for name in names]
    refuse_pickles(directory, found_safe_weights=False)
    raise PresetFileMissingError(
        directory / SAFETENSORS_FILE,
        "does not exist, and neither does a sharded index.",
        "Save the checkpoint with transformers' `save_pretrained()` (safetensors).",
    )


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise PresetFileMissingError(path, "does not exist.", "Fetch the checkpoint again.")
    try:
        with safe_open(path, framework="numpy") as file:
            return {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise PresetFormatError(
            path,
            f"is not a readable safetensors file ({error}).",
            "The file is truncated or corrupted; fetch the checkpoint again.",
        ) from error


def open_checkpoint(directory: Path) -> Checkpoint:
    """Index the tensors of a transformers checkpoint, reading only headers."""
    files: dict[str, Path] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for path in _weight_files(directory):
        for key, shape in _tensor_shapes(path).items():
            files[key] = path
            shapes[key] = shape
    prefix = "transformer." if "transformer.wte.weight" in shapes else ""
    if prefix:
        files = {k.removeprefix(prefix): v for k, v in files.items()}
        shapes = {k.removeprefix(prefix): v for k, v in shapes.items()}
    if "wte.weight" not in shapes:
        raise WeightsMismatchError(
            directory / SAFETENSORS_FILE,
            "has no `wte.weight` tensor, so it is not a GPT-2 checkpoint.",
            "Point at the directory of a transformers GPT2Model or GPT2LMHeadModel.",
        )
    return Checkpoint(directory, files, shapes, prefix)


def _check_supported(path: Path, hf_config: dict[str, Any]) -> None:
    unsupported = {
        "activation_function": hf_config.get("activation_function", "gelu_new") not in _TANH_GELUS,
        "layer_norm_epsilon": hf_config.get("layer_norm_epsilon", 1e-5) != 1e-5,
        "scale_attn_weights": hf_config.get("scale_attn_weights", True) is not True,
        "scale_attn_by_inverse_layer_idx": bool(
            hf_config.get("scale_attn_by_inverse_layer_idx", False)
        ),
        "add_cross_attention": bool(hf_config.get("add_cross_attention", False)),
    }
    for field, refused in unsupported.items():
        if refused:
            raise PresetFormatError(
                path,
                f"sets {field}={hf_config.get(field)!r}, which GPT2Backbone does not "
                "implement (it is GPT-2 as published: tanh GELU, epsilon 1e-5, "
                "scaled attention, no cross-attention).",
                "Only standard GPT-2 checkpoints can be converted.",
            )


def _declared(path: Path, hf_config: dict[str, Any], field: str, found: int) -> None:
    declared = hf_config.get(field)
    if declared is not None and declared != found:
        raise WeightsMismatchError(
            path,
            f"declares {field}={declared!r}, but the weights have {found}.",
            "The config and weights come from different models; keep them together.",
        )


def backbone_arguments(
    directory: Path, hf_config: dict[str, Any], checkpoint: Checkpoint
) -> dict[str, Any]:
    """GPT2Backbone's constructor arguments for a transformers checkpoint."""
    path = directory / CONFIG_FILE
    if hf_config.get("model_type") != "gpt2":
        raise PresetFormatError(
            path,
            f"has model_type={hf_config.get('model_type')!r}; only 'gpt2' converts.",
            "Use a GPT-2 checkpoint, or a Keras preset of an allowed architecture.",
        )
    _check_supported(path, hf_config)
    vocabulary_size, hidden_dim = checkpoint.shapes["wte.weight"]
    layers = {int(m.group(1)) for key in checkpoint.shapes if (m := _LAYER_KEY.match(key))}
    num_layers = len(layers)
    if layers != set(range(num_layers)) or "h.0.mlp.c_fc.weight" not in checkpoint.shapes:
        raise WeightsMismatchError(
            path, "has missing or non-contiguous transformer blocks.", "Re-save it."
        )
    max_sequence_length = checkpoint.shapes["wpe.weight"][0]
    intermediate_dim = checkpoint.shapes["h.0.mlp.c_fc.weight"][1]
    for field, found in (
        ("vocab_size", vocabulary_size),
        ("n_embd", hidden_dim),
        ("n_layer", num_layers),
        ("n_positions", max_sequence_length),
        ("n_inner", intermediate_dim),
    ):
        _declared(path, hf_config, field, found)
    return {
        "vocabulary_size": vocabulary_size,
        "num_layers": num_layers,
        "num_heads": hf_config.get("n_head"),
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "dropout": float(hf_config.get("resid_pdrop", 0.1)),
        "max_sequence_length": max_sequence_length,
    }


def _same(value: np.ndarray) -> list[np.ndarray]:
    return [value]


def _split_three(value: np.ndarray) -> list[np.ndarray]:
    # c_attn packs query, key and value along its last axis.
    return list(np.split(value, 3, axis=-1))


def _weight_table(
    backbone: GPT2Backbone,
) -> list[tuple[str, tuple[Any, ...], Transform]]:
    """(transformers key, the Keras variables it fills, how to split it)."""
    token_embedding = cast(Any, backbone.token_embedding)
    table: list[tuple[str, tuple[Any, ...], Transform]] = [
        ("wte.weight", (token_embedding.embeddings,), _same),
        ("wpe.weight", (backbone.position_embedding.position_embeddings,), _same),
        ("ln_f.weight", (backbone.layer_norm.gamma,), _same),
        ("ln_f.bias", (backbone.layer_norm.beta,), _same),
    ]
    for i, block in enumerate(backbone.transformer_layers):
        attention = block._self_attention_layer
        qkv = (attention.query_dense, attention.key_dense, attention.value_dense)
        ffn_in = block._feedforward_intermediate_dense
        ffn_out = block._feedforward_output_dense
        table += [
            (f"h.{i}.ln_1.weight", (block._self_attention_layer_norm.gamma,), _same),
            (f"h.{i}.ln_1.bias", (block._self_attention_layer_norm.beta,), _same),
            (f"h.{i}.attn.c_attn.weight", tuple(d.kernel for d in qkv), _split_three),
            (f"h.{i}.attn.c_attn.bias", tuple(d.bias for d in qkv), _split_three),
            (f"h.{i}.attn.c_proj.weight", (attention.output_dense.kernel,), _same),
            (f"h.{i}.attn.c_proj.bias", (attention.output_dense.bias,), _same),
            (f"h.{i}.ln_2.weight", (block._feedforward_layer_norm.gamma,), _same),
            (f"h.{i}.ln_2.bias", (block._feedforward_layer_norm.beta,), _same),
            (f"h.{i}.mlp.c_fc.weight", (ffn_in.kernel,), _same),
            (f"h.{i}.mlp.c_fc.bias", (ffn_in.bias,), _same),
            (f"h.{i}.mlp.c_proj.weight", (ffn_out.kernel,), _same),
            (f"h.{i}.mlp.c_proj.bias", (ffn_out.bias,), _same),
        ]
    return table


def load_weights(backbone: GPT2Backbone, checkpoint: Checkpoint) -> None:
    """Copy every tensor of `checkpoint` into `backbone`, each read once.

    Raises:
        WeightsMismatchError: a tensor is missing, unknown, or of the wrong size.
    """
    table = _weight_table(backbone)
    where = checkpoint.directory / SAFETENSORS_FILE
    expected = {key for key, _, _ in table}
    unknown = sorted(k for k in set(checkpoint.shapes) - expected if not _IGNORED.match(k))
    missing = sorted(expected - set(checkpoint.shapes))
    if missing or unknown:
        problem = f"lacks `{missing[0]}`" if missing else f"has unknown `{unknown[0]}`"
        raise WeightsMismatchError(
            where,
            f"{problem} ({len(missing)} missing, {len(unknown)} unknown tensors).",
            "It is not a GPT-2 checkpoint transformers wrote; re-save it.",
        )
    for key, variables, _ in table:
        size = int(np.prod(checkpoint.shapes[key]))
        needed = sum(int(np.prod(v.shape)) for v in variables)
        if size != needed:
            raise WeightsMismatchError(
                where,
                f"tensor `{key}` has shape {checkpoint.shapes[key]}, which does not "
                f"fit {[tuple(v.shape) for v in variables]}.",
                "The tensors disagree with each other; re-save the checkpoint.",
            )
    with checkpoint.reader() as read:
        for key, variables, transform in table:
            for variable, value in zip(variables, transform(read(key)), strict=True):
                variable.assign(np.reshape(value, variable.shape))
