"""keras-hub's built-in Gemma and Gemma 2 presets, as keras-hub 0.32's preset table gives them."""

from __future__ import annotations

import functools

from registry.architectures.spec import kaggle_preset

_GEMMA_2B = 2_506_172_416
_GEMMA_7B = 8_537_680_896
_GEMMA2_2B = 2_614_341_888
_GEMMA2_9B = 9_241_705_984
_GEMMA2_27B = 27_227_128_320
_FIM = "This model has been trained on a fill-in-the-middle (FIM) task for code completion."
_CHAT = "This model has been trained for chat use cases related to code."
_UPDATE = "The 1.1 update improves model quality."


_gemma = functools.partial(kaggle_preset, "GemmaBackbone")


PRESETS = (
    _gemma(
        "gemma_2b_en",
        "gemma",
        3,
        _GEMMA_2B,
        "2 billion parameter, 18-layer, base Gemma model.",
    ),
    _gemma(
        "gemma_instruct_2b_en",
        "gemma",
        3,
        _GEMMA_2B,
        "2 billion parameter, 18-layer, instruction tuned Gemma model.",
    ),
    _gemma(
        "gemma_1.1_instruct_2b_en",
        "gemma",
        4,
        _GEMMA_2B,
        f"2 billion parameter, 18-layer, instruction tuned Gemma model. {_UPDATE}",
    ),
    _gemma(
        "code_gemma_1.1_2b_en",
        "codegemma",
        2,
        _GEMMA_2B,
        f"2 billion parameter, 18-layer, CodeGemma model. {_FIM} {_UPDATE}",
    ),
    _gemma(
        "code_gemma_2b_en",
        "codegemma",
        2,
        _GEMMA_2B,
        f"2 billion parameter, 18-layer, CodeGemma model. {_FIM}",
    ),
    _gemma(
        "gemma_7b_en",
        "gemma",
        4,
        _GEMMA_7B,
        "7 billion parameter, 28-layer, base Gemma model.",
    ),
    _gemma(
        "gemma_instruct_7b_en",
        "gemma",
        4,
        _GEMMA_7B,
        "7 billion parameter, 28-layer, instruction tuned Gemma model.",
    ),
    _gemma(
        "gemma_1.1_instruct_7b_en",
        "gemma",
        5,
        _GEMMA_7B,
        f"7 billion parameter, 28-layer, instruction tuned Gemma model. {_UPDATE}",
    ),
    _gemma(
        "code_gemma_7b_en",
        "codegemma",
        3,
        _GEMMA_7B,
        f"7 billion parameter, 28-layer, CodeGemma model. {_FIM}",
    ),
    _gemma(
        "code_gemma_instruct_7b_en",
        "codegemma",
        3,
        _GEMMA_7B,
        f"7 billion parameter, 28-layer, instruction tuned CodeGemma model. {_CHAT}",
    ),
    _gemma(
        "code_gemma_1.1_instruct_7b_en",
        "codegemma",
        3,
        _GEMMA_7B,
        f"7 billion parameter, 28-layer, instruction tuned CodeGemma model. {_CHAT} {_UPDATE}",
    ),
    _gemma(
        "gemma2_2b_en",
        "gemma2",
        2,
        _GEMMA2_2B,
        "2 billion parameter, 26-layer, base Gemma model.",
    ),
    _gemma(
        "gemma2_instruct_2b_en",
        "gemma2",
        2,
        _GEMMA2_2B,
        "2 billion parameter, 26-layer, instruction tuned Gemma model.",
    ),
    _gemma(
        "gemma2_9b_en",
        "gemma2",
        4,
        _GEMMA2_9B,
        "9 billion parameter, 42-layer, base Gemma model.",
    ),
    _gemma(
        "gemma2_instruct_9b_en",
        "gemma2",
        4,
        _GEMMA2_9B,
        "9 billion parameter, 42-layer, instruction tuned Gemma model.",
    ),
    _gemma(
        "gemma2_27b_en",
        "gemma2",
        3,
        _GEMMA2_27B,
        "27 billion parameter, 42-layer, base Gemma model.",
    ),
    _gemma(
        "gemma2_instruct_27b_en",
        "gemma2",
        3,
        _GEMMA2_27B,
        "27 billion parameter, 42-layer, instruction tuned Gemma model.",
    ),
    _gemma(
        "shieldgemma_2b_en",
        "shieldgemma",
        2,
        _GEMMA2_2B,
        "2 billion parameter, 26-layer, ShieldGemma model.",
        owner="google",
    ),
    _gemma(
        "shieldgemma_9b_en",
        "shieldgemma",
        2,
        _GEMMA2_9B,
        "9 billion parameter, 42-layer, ShieldGemma model.",
        owner="google",
    ),
    _gemma(
        "shieldgemma_27b_en",
        "shieldgemma",
        2,
        _GEMMA2_27B,
        "27 billion parameter, 42-layer, ShieldGemma model.",
        owner="google",
    ),
    _gemma(
        "vault_gemma_1b_en",
        "vaultgemma",
        2,
        1_038_741_120,
        "1 billion parameter, 26-layer, VaultGemma model.",
    ),
    _gemma(
        "c2s_scale_gemma_2_2b_en",
        "cell2sentence",
        1,
        _GEMMA2_2B,
        "A 2 billion parameter, single-cell biology-aware model built on the Gemma-2 architecture.",
    ),
    _gemma(
        "c2s_scale_gemma_2_27b_en",
        "cell2sentence",
        1,
        _GEMMA2_27B,
        "A 27 billion parameter, single-cell biology-aware model built on the Gemma-2 "
        "architecture.",
    ),
)
