"""keras-hub's built-in Gemma and Gemma 2 presets, as keras-hub 0.32's preset table gives them."""

from __future__ import annotations

from registry.architectures.spec import BuiltinPreset

_GEMMA_2B = 2_506_172_416
_GEMMA_7B = 8_537_680_896
_GEMMA2_2B = 2_614_341_888
_GEMMA2_9B = 9_241_705_984
_GEMMA2_27B = 27_227_128_320
_FIM = "This model has been trained on a fill-in-the-middle (FIM) task for code completion."
_CHAT = "This model has been trained for chat use cases related to code."
_UPDATE = "The 1.1 update improves model quality."


def _gemma(name: str, description: str, params: int, handle: str) -> BuiltinPreset:
    return BuiltinPreset(
        name=name,
        architecture="GemmaBackbone",
        description=description,
        params=params,
        kaggle_handle=f"kaggle://{handle}",
    )


PRESETS = (
    _gemma(
        "gemma_2b_en",
        "2 billion parameter, 18-layer, base Gemma model.",
        _GEMMA_2B,
        "keras/gemma/keras/gemma_2b_en/3",
    ),
    _gemma(
        "gemma_instruct_2b_en",
        "2 billion parameter, 18-layer, instruction tuned Gemma model.",
        _GEMMA_2B,
        "keras/gemma/keras/gemma_instruct_2b_en/3",
    ),
    _gemma(
        "gemma_1.1_instruct_2b_en",
        f"2 billion parameter, 18-layer, instruction tuned Gemma model. {_UPDATE}",
        _GEMMA_2B,
        "keras/gemma/keras/gemma_1.1_instruct_2b_en/4",
    ),
    _gemma(
        "code_gemma_1.1_2b_en",
        f"2 billion parameter, 18-layer, CodeGemma model. {_FIM} {_UPDATE}",
        _GEMMA_2B,
        "keras/codegemma/keras/code_gemma_1.1_2b_en/2",
    ),
    _gemma(
        "code_gemma_2b_en",
        f"2 billion parameter, 18-layer, CodeGemma model. {_FIM}",
        _GEMMA_2B,
        "keras/codegemma/keras/code_gemma_2b_en/2",
    ),
    _gemma(
        "gemma_7b_en",
        "7 billion parameter, 28-layer, base Gemma model.",
        _GEMMA_7B,
        "keras/gemma/keras/gemma_7b_en/4",
    ),
    _gemma(
        "gemma_instruct_7b_en",
        "7 billion parameter, 28-layer, instruction tuned Gemma model.",
        _GEMMA_7B,
        "keras/gemma/keras/gemma_instruct_7b_en/4",
    ),
    _gemma(
        "gemma_1.1_instruct_7b_en",
        f"7 billion parameter, 28-layer, instruction tuned Gemma model. {_UPDATE}",
        _GEMMA_7B,
        "keras/gemma/keras/gemma_1.1_instruct_7b_en/5",
    ),
    _gemma(
        "code_gemma_7b_en",
        f"7 billion parameter, 28-layer, CodeGemma model. {_FIM}",
        _GEMMA_7B,
        "keras/codegemma/keras/code_gemma_7b_en/3",
    ),
    _gemma(
        "code_gemma_instruct_7b_en",
        f"7 billion parameter, 28-layer, instruction tuned CodeGemma model. {_CHAT}",
        _GEMMA_7B,
        "keras/codegemma/keras/code_gemma_instruct_7b_en/3",
    ),
    _gemma(
        "code_gemma_1.1_instruct_7b_en",
        f"7 billion parameter, 28-layer, instruction tuned CodeGemma model. {_CHAT} {_UPDATE}",
        _GEMMA_7B,
        "keras/codegemma/keras/code_gemma_1.1_instruct_7b_en/3",
    ),
    _gemma(
        "gemma2_2b_en",
        "2 billion parameter, 26-layer, base Gemma model.",
        _GEMMA2_2B,
        "keras/gemma2/keras/gemma2_2b_en/2",
    ),
    _gemma(
        "gemma2_instruct_2b_en",
        "2 billion parameter, 26-layer, instruction tuned Gemma model.",
        _GEMMA2_2B,
        "keras/gemma2/keras/gemma2_instruct_2b_en/2",
    ),
    _gemma(
        "gemma2_9b_en",
        "9 billion parameter, 42-layer, base Gemma model.",
        _GEMMA2_9B,
        "keras/gemma2/keras/gemma2_9b_en/4",
    ),
    _gemma(
        "gemma2_instruct_9b_en",
        "9 billion parameter, 42-layer, instruction tuned Gemma model.",
        _GEMMA2_9B,
        "keras/gemma2/keras/gemma2_instruct_9b_en/4",
    ),
    _gemma(
        "gemma2_27b_en",
        "27 billion parameter, 42-layer, base Gemma model.",
        _GEMMA2_27B,
        "keras/gemma2/keras/gemma2_27b_en/3",
    ),
    _gemma(
        "gemma2_instruct_27b_en",
        "27 billion parameter, 42-layer, instruction tuned Gemma model.",
        _GEMMA2_27B,
        "keras/gemma2/keras/gemma2_instruct_27b_en/3",
    ),
    _gemma(
        "shieldgemma_2b_en",
        "2 billion parameter, 26-layer, ShieldGemma model.",
        _GEMMA2_2B,
        "google/shieldgemma/keras/shieldgemma_2b_en/2",
    ),
    _gemma(
        "shieldgemma_9b_en",
        "9 billion parameter, 42-layer, ShieldGemma model.",
        _GEMMA2_9B,
        "google/shieldgemma/keras/shieldgemma_9b_en/2",
    ),
    _gemma(
        "shieldgemma_27b_en",
        "27 billion parameter, 42-layer, ShieldGemma model.",
        _GEMMA2_27B,
        "google/shieldgemma/keras/shieldgemma_27b_en/2",
    ),
    _gemma(
        "vault_gemma_1b_en",
        "1 billion parameter, 26-layer, VaultGemma model.",
        1_038_741_120,
        "keras/vaultgemma/keras/vault_gemma_1b_en/2",
    ),
    _gemma(
        "c2s_scale_gemma_2_2b_en",
        "A 2 billion parameter, single-cell biology-aware model built on the Gemma-2 architecture.",
        _GEMMA2_2B,
        "keras/cell2sentence/keras/c2s_scale_gemma_2_2b_en/1",
    ),
    _gemma(
        "c2s_scale_gemma_2_27b_en",
        "A 27 billion parameter, single-cell biology-aware model built on the Gemma-2 "
        "architecture.",
        _GEMMA2_27B,
        "keras/cell2sentence/keras/c2s_scale_gemma_2_27b_en/1",
    ),
)
