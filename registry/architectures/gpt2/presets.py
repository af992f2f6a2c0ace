"""keras-hub's built-in GPT-2 presets, as keras-hub 0.32's preset table gives them."""

from __future__ import annotations

from registry.architectures.spec import BuiltinPreset


def _gpt2(name: str, description: str, params: int) -> BuiltinPreset:
    return BuiltinPreset(
        name=name,
        architecture="GPT2Backbone",
        description=description,
        params=params,
        kaggle_handle=f"kaggle://keras/gpt2/keras/{name}/3",
    )


PRESETS = (
    _gpt2(
        "gpt2_base_en",
        "12-layer GPT-2 model where case is maintained. Trained on WebText.",
        124_439_808,
    ),
    _gpt2(
        "gpt2_medium_en",
        "24-layer GPT-2 model where case is maintained. Trained on WebText.",
        354_823_168,
    ),
    _gpt2(
        "gpt2_large_en",
        "36-layer GPT-2 model where case is maintained. Trained on WebText.",
        774_030_080,
    ),
    _gpt2(
        "gpt2_extra_large_en",
        "48-layer GPT-2 model where case is maintained. Trained on WebText.",
        1_557_611_200,
    ),
    _gpt2(
        "gpt2_base_en_cnn_dailymail",
        "12-layer GPT-2 model where case is maintained. "
        "Finetuned on the CNN/DailyMail summarization dataset.",
        124_439_808,
    ),
)
