"""The decoder block against keras-hub's TransformerDecoder with the same weights."""

from __future__ import annotations

import keras
import numpy as np

from registry.architectures.transformer import TransformerDecoder, gelu_approximate


def test_decoder_block_matches_keras_hubs() -> None:
    from keras_hub.layers import TransformerDecoder as KerasHubDecoder

    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype="int32")
    theirs = KerasHubDecoder(
        intermediate_dim=24,
        num_heads=4,
        activation=gelu_approximate,
        layer_norm_epsilon=1e-5,
        normalize_first=True,
    )
    expected = np.asarray(theirs(x, decoder_padding_mask=padding))
    ours = TransformerDecoder(
        hidden_dim=16,
        intermediate_dim=24,
        num_heads=4,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        kernel_initializer=keras.initializers.Zeros(),
    )
    ours.build(x.shape)
    # Variable paths below the layer's own name are the same in both.
    by_path = {w.path.split("/", 1)[1]: w for w in theirs.weights}
    for weight in ours.weights:
        weight.assign(by_path[weight.path.split("/", 1)[1]])
    np.testing.assert_allclose(np.asarray(ours(x, padding_mask=padding)), expected, atol=1e-5)
