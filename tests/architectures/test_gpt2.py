"""GPT2Backbone: arguments, graph behaviour, config and dtype handling."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from registry import Backbone, GPT2Backbone
from tests.conftest import TINY, tiny_inputs


@pytest.fixture(scope="module")
def backbone() -> GPT2Backbone:
    keras.utils.set_random_seed(1)
    return GPT2Backbone(**TINY)


def test_output_is_the_layer_normed_sequence(backbone: GPT2Backbone) -> None:
    outputs = np.asarray(backbone(tiny_inputs()))
    assert outputs.shape == (2, 7, TINY["hidden_dim"])
    # The final layer norm (gamma 1, beta 0 at init) centres every vector and
    # scales it to (almost: epsilon is 1e-5) unit variance.
    np.testing.assert_allclose(outputs.mean(axis=-1), 0.0, atol=1e-5)
    assert np.all((outputs.std(axis=-1) > 0.9) & (outputs.std(axis=-1) <= 1.0))


def test_attention_is_causal(backbone: GPT2Backbone) -> None:
    inputs = tiny_inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][:, 4:] = (changed["token_ids"][:, 4:] + 1) % TINY["vocabulary_size"]
    before, after = np.asarray(backbone(inputs)), np.asarray(backbone(changed))
    np.testing.assert_allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:])


def test_padded_keys_are_not_attended(backbone: GPT2Backbone) -> None:
    # Left padding: every unpadded query comes after the padded keys, so only
    # the padding mask (not causality) can keep them out of its attention.
    inputs = tiny_inputs()
    inputs["padding_mask"][0] = [0, 0, 1, 1, 1, 1, 1]
    unpadded = np.s_[0, 2:]
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][0, :2] = (changed["token_ids"][0, :2] + 3) % TINY["vocabulary_size"]
    before, after = np.asarray(backbone(inputs)), np.asarray(backbone(changed))
    np.testing.assert_allclose(before[unpadded], after[unpadded], atol=1e-6)
    # The same change without the mask reaches the later queries: the keys
    # would have counted, so the equality above is the mask's doing.
    for batch in (inputs, changed):
        batch["padding_mask"][:] = 1
    before, after = np.asarray(backbone(inputs)), np.asarray(backbone(changed))
    assert not np.allclose(before[unpadded], after[unpadded], atol=1e-4)


def test_dropout_only_in_training(backbone: GPT2Backbone) -> None:
    inputs = tiny_inputs()
    first = np.asarray(backbone(inputs, training=False))
    np.testing.assert_array_equal(first, np.asarray(backbone(inputs, training=False)))
    assert not np.allclose(first, np.asarray(backbone(inputs, training=True)))


def test_token_embedding_is_a_keras_embedding(backbone: GPT2Backbone) -> None:
    assert isinstance(backbone.token_embedding, keras.layers.Embedding)
    assert tuple(backbone.token_embedding.embeddings.shape) == (
        TINY["vocabulary_size"],
        TINY["hidden_dim"],
    )


def test_parameter_count_matches_the_architecture(backbone: GPT2Backbone) -> None:
    v, h, f, t, n = (
        TINY[k]
        for k in (
            "vocabulary_size",
            "hidden_dim",
            "intermediate_dim",
            "max_sequence_length",
            "num_layers",
        )
    )
    block = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
    assert backbone.count_params() == v * h + t * h + n * block + 2 * h


def test_config_round_trips_through_json(backbone: GPT2Backbone) -> None:
    config = json.loads(json.dumps(backbone.get_config()))
    clone = GPT2Backbone.from_config(config)
    assert clone.get_config() == backbone.get_config()
    assert set(config) == {
        "name",
        "trainable",
        "dtype",
        "vocabulary_size",
        "num_layers",
        "num_heads",
        "hidden_dim",
        "intermediate_dim",
        "dropout",
        "max_sequence_length",
    }
    clone.set_weights(backbone.get_weights())
    inputs = tiny_inputs()
    np.testing.assert_array_equal(np.asarray(clone(inputs)), np.asarray(backbone(inputs)))


def test_hidden_dim_must_divide_by_heads() -> None:
    with pytest.raises(ValueError, match=r"divisible by `num_heads`.*hidden_dim=10, num_heads=3"):
        GPT2Backbone(**{**TINY, "hidden_dim": 10, "num_heads": 3})


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("num_layers", 0),
        ("vocabulary_size", -1),
        ("hidden_dim", 2.5),
        ("num_heads", True),
    ],
)
def test_dimensions_must_be_positive_integers(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"`{argument}` must be a positive integer"):
        GPT2Backbone(**{**TINY, argument: value})


def test_dropout_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="dropout"):
        GPT2Backbone(**{**TINY, "dropout": 1.5})


@pytest.mark.parametrize(
    ("dtype", "variable_dtype", "compute_dtype"),
    [
        ("float32", "float32", "float32"),
        ("bfloat16", "bfloat16", "bfloat16"),
        ("mixed_bfloat16", "float32", "bfloat16"),
        (keras.DTypePolicy("mixed_bfloat16"), "float32", "bfloat16"),
    ],
)
def test_dtype_policies(
    backbone: GPT2Backbone, dtype: object, variable_dtype: str, compute_dtype: str
) -> None:
    model = GPT2Backbone(**TINY, dtype=dtype)
    assert model.dtype_policy.variable_dtype == variable_dtype
    assert all(w.dtype == variable_dtype for w in model.weights)
    model.set_weights([w.astype(variable_dtype) for w in backbone.get_weights()])
    outputs = model(tiny_inputs())
    assert keras.backend.standardize_dtype(outputs.dtype) == compute_dtype
    # Softmax and layer norm run in float32, so half precision stays close.
    reference = np.asarray(backbone(tiny_inputs()))
    np.testing.assert_allclose(np.asarray(outputs, dtype="float32"), reference, atol=0.1)
    restored = GPT2Backbone.from_config(json.loads(json.dumps(model.get_config())))
    assert restored.dtype_policy.name == model.dtype_policy.name


def test_builtin_presets_are_keras_hubs() -> None:
    from keras_hub.src.models.gpt2.gpt2_presets import backbone_presets

    assert set(GPT2Backbone.presets) == set(backbone_presets)
    for name, preset in GPT2Backbone.presets.items():
        seed = backbone_presets[name]
        assert preset.params == seed["metadata"]["params"]
        assert preset.description == seed["metadata"]["description"]
        assert preset.kaggle_handle == seed["kaggle_handle"]
        assert preset.architecture == "GPT2Backbone"
    assert GPT2Backbone.presets.items() <= Backbone.presets.items()


def test_allow_list_names_gpt2() -> None:
    assert Backbone.architectures()["GPT2Backbone"] is GPT2Backbone


def test_every_kernel_gets_its_own_draw() -> None:
    # One initializer instance draws the same values each time it is called.
    model = GPT2Backbone(**TINY)
    attention = model.transformer_layers[0]._self_attention_layer
    kernels = [attention.query_dense.kernel, attention.key_dense.kernel]
    assert not np.allclose(*(np.asarray(k) for k in kernels))
    first, second = (block._feedforward_output_dense.kernel for block in model.transformer_layers)
    assert not np.allclose(np.asarray(first), np.asarray(second))
