"""GPT-2's forward pass in plain numpy, on transformers' tensor names (nanoGPT-style).

An independent reference for checkpoints no library computed outputs for.
"""

from __future__ import annotations

import numpy as np


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def gpt2_forward(
    t: dict[str, np.ndarray],
    n_head: int,
    token_ids: np.ndarray,
    padding_mask: np.ndarray | None = None,
) -> np.ndarray:
    """`last_hidden_state` of a transformers GPT2Model (at the positions `padding_mask` keeps)."""
    t = {k: v.astype("float64") for k, v in t.items()}
    batch, length = token_ids.shape
    x = t["wte.weight"][token_ids] + t["wpe.weight"][:length]  # (B, T, C)
    hidden = x.shape[-1]
    head = hidden // n_head
    visible = np.tril(np.ones((length, length), dtype=bool))[None, None]  # (1, 1, T, T)
    if padding_mask is not None:
        visible = visible & padding_mask.astype(bool)[:, None, None, :]  # (B, 1, T, T)
    layer = 0
    while f"h.{layer}.ln_1.weight" in t:
        p = f"h.{layer}."
        h = _layer_norm(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
        qkv = h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
        q, k, v = (
            a.reshape(batch, length, n_head, head).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
            for a in np.split(qkv, 3, axis=-1)
        )
        # A large negative rather than -inf: a padded query that sees no key stays finite.
        scores = np.where(visible, q @ k.transpose(0, 1, 3, 2) / np.sqrt(head), -1e30)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        y = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = x + y @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = _layer_norm(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
        h = _gelu_tanh(h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + h @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
        layer += 1
    return _layer_norm(x, t["ln_f.weight"], t["ln_f.bias"])
