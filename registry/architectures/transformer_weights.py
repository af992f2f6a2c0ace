"""The datasets of keras-hub's transformer blocks, without Keras.

keras-hub's `TransformerDecoder` (GPT-2) and `TransformerEncoder` (BERT) lay out
their weights alike: an attention layer with per-head query, key, value and
output projections, two layer norms and a two-layer feedforward network.
"""

from __future__ import annotations

from registry.architectures.spec import Shapes


def block_shapes(block: str, hidden: int, heads: int, intermediate: int) -> Shapes:
    """Every dataset of one block, whose group in `model.weights.h5` is `block`."""
    attention = f"{block}/_self_attention_layer"
    head_dim = hidden // heads
    shapes: Shapes = {}
    for name in ("query_dense", "key_dense", "value_dense"):
        shapes[f"{attention}/{name}/vars/0"] = (hidden, heads, head_dim)
        shapes[f"{attention}/{name}/vars/1"] = (heads, head_dim)
    shapes[f"{attention}/output_dense/vars/0"] = (heads, head_dim, hidden)
    shapes[f"{attention}/output_dense/vars/1"] = (hidden,)
    for norm in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
        shapes[f"{block}/{norm}/vars/0"] = (hidden,)
        shapes[f"{block}/{norm}/vars/1"] = (hidden,)
    shapes[f"{block}/_feedforward_intermediate_dense/vars/0"] = (hidden, intermediate)
    shapes[f"{block}/_feedforward_intermediate_dense/vars/1"] = (intermediate,)
    shapes[f"{block}/_feedforward_output_dense/vars/0"] = (intermediate, hidden)
    shapes[f"{block}/_feedforward_output_dense/vars/1"] = (hidden,)
    return shapes
