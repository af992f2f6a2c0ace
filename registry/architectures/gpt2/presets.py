"""keras-hub's built-in GPT-2 presets, as keras-hub 0.32's preset table gives them."""

from __future__ import annotations

import functools

from registry.architectures.spec import kaggle_preset

_gpt2 = functools.partial(kaggle_preset, "GPT2Backbone")


PRESETS = (
    _gpt2(
        "gpt2_base_en",
        "gpt2",
        3,
        124_439_808,
        "12-layer GPT-2 model where case is maintained. Trained on WebText.",
    ),
    _gpt2(
        "gpt2_medium_en",
        "gpt2",
        3,
        354_823_168,
        "24-layer GPT-2 model where case is maintained. Trained on WebText.",
    ),
    _gpt2(
        "gpt2_large_en",
        "gpt2",
        3,
        774_030_080,
        "36-layer GPT-2 model where case is maintained. Trained on WebText.",
    ),
    _gpt2(
        "gpt2_extra_large_en",
        "gpt2",
        3,
        1_557_611_200,
        "48-layer GPT-2 model where case is maintained. Trained on WebText.",
    ),
    _gpt2(
        "gpt2_base_en_cnn_dailymail",
        "gpt2",
        3,
        124_439_808,
        "12-layer GPT-2 model where case is maintained. "
        "Finetuned on the CNN/DailyMail summarization dataset.",
        base_model="gpt2_base_en",
    ),
)
