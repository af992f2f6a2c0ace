"""BERT's encoder block, laid out as keras-hub lays out its own.

`TransformerEncoder` lists its children in `h5_children()` under the attribute
names of keras-hub's `TransformerEncoder` (and Keras's `MultiHeadAttention`
below it), so `model.weights.h5` files written by either project load in the
other (see `registry.preset.weights_h5`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from registry.architectures.transformer import TransformerBlock, gelu_approximate


def gelu_exact(x: Any) -> Any:
    """GELU with the error function (transformers' BERT `hidden_act: "gelu"`)."""
    return keras.activations.gelu(x, approximate=False)


# BertBackbone's `hidden_activation` -> the function its feedforward layers apply.
HIDDEN_ACTIVATIONS = {"gelu_approximate": gelu_approximate, "gelu": gelu_exact}


class TransformerEncoder(TransformerBlock):
    """A post-norm encoder block: self-attention, then a GELU feedforward network.

    Each sub-block adds its input back and then normalizes (BERT's order), and
    attention sees every unpadded position in both directions.
    """

    normalize_first = False
    attention_name = "self_attention_layer"

    def attention_mask(self, padding_mask: Any, sequence_length: Any) -> Any:
        return ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
