"""The built-in preset table: what keras-hub ships for each architecture."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinPreset:
    """A preset every catalog knows by name, synced from its Kaggle handle."""

    name: str
    architecture: str
    description: str
    params: int
    kaggle_handle: str


def _gpt2(name: str, description: str, params: int) -> BuiltinPreset:
    return BuiltinPreset(
        name=name,
        architecture="GPT2Backbone",
        description=description,
        params=params,
        kaggle_handle=f"kaggle://keras/gpt2/keras/{name}/3",
    )


GPT2_PRESETS: dict[str, BuiltinPreset] = {
    preset.name: preset
    for preset in (
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
}
