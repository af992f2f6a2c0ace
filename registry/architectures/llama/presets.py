"""keras-hub's built-in Llama presets, as keras-hub 0.32's preset tables give them.

keras-hub files Llama 2 (and Vicuna) under `LlamaBackbone` and Llama 3, 3.1 and
3.2 under `Llama3Backbone`, a subclass that adds nothing: the same arguments,
graph and weights. Here `LlamaBackbone` builds both. The `_int8` presets hold
int8-quantized weights (a kernel scale beside every kernel), hence their larger
counts; descriptions are keras-hub's, trailing spaces included.
"""

from __future__ import annotations

import functools

from registry.architectures.spec import kaggle_preset

_llama = functools.partial(kaggle_preset, "LlamaBackbone")


_LLAMA2_7B = 6_738_415_616
_LLAMA2_7B_INT8 = 6_739_839_488
_LLAMA3_8B = 8_030_261_248
_LLAMA3_8B_INT8 = 8_031_894_016
_LLAMA32_1B = 1_498_482_688
_LLAMA32_3B = 3_606_752_256

PRESETS = (
    # keras_hub/src/models/llama/llama_presets.py
    _llama(
        "llama2_7b_en",
        "llama2",
        3,
        _LLAMA2_7B,
        "7 billion parameter, 32-layer, base LLaMA 2 model.",
    ),
    _llama(
        "llama2_7b_en_int8",
        "llama2",
        2,
        _LLAMA2_7B_INT8,
        "7 billion parameter, 32-layer, base LLaMA 2 model with "
        "activation and weights quantized to int8.",
    ),
    _llama(
        "llama2_instruct_7b_en",
        "llama2",
        3,
        _LLAMA2_7B,
        "7 billion parameter, 32-layer, instruction tuned LLaMA 2 model.",
    ),
    _llama(
        "llama2_instruct_7b_en_int8",
        "llama2",
        2,
        _LLAMA2_7B_INT8,
        "7 billion parameter, 32-layer, instruction tuned LLaMA 2 "
        "model with activation and weights quantized to int8.",
    ),
    _llama(
        "vicuna_1.5_7b_en",
        "vicuna",
        3,
        _LLAMA2_7B,
        "7 billion parameter, 32-layer, instruction tuned Vicuna v1.5 model.",
    ),
    # keras_hub/src/models/llama3/llama3_presets.py
    _llama(
        "llama3_8b_en",
        "llama3",
        5,
        _LLAMA3_8B,
        "8 billion parameter, 32-layer, base LLaMA 3 model.",
    ),
    _llama(
        "llama3_8b_en_int8",
        "llama3",
        2,
        _LLAMA3_8B_INT8,
        "8 billion parameter, 32-layer, base LLaMA 3 model with "
        "activation and weights quantized to int8.",
    ),
    _llama(
        "llama3_instruct_8b_en",
        "llama3",
        5,
        _LLAMA3_8B,
        "8 billion parameter, 32-layer, instruction tuned LLaMA 3 model.",
    ),
    _llama(
        "llama3_instruct_8b_en_int8",
        "llama3",
        2,
        _LLAMA3_8B_INT8,
        "8 billion parameter, 32-layer, instruction tuned LLaMA 3 "
        "model with activation and weights quantized to int8.",
    ),
    _llama(
        "llama3.1_8b",
        "llama3",
        2,
        _LLAMA3_8B,
        "8 billion parameter, 32-layer, based LLaMA 3.1 model. ",
    ),
    _llama(
        "llama3.1_instruct_8b",
        "llama3",
        2,
        _LLAMA3_8B,
        "8 billion parameter, 32-layer, instruction tuned LLaMA 3.1. ",
    ),
    _llama(
        "llama3.1_guard_8b",
        "llama3",
        2,
        _LLAMA3_8B,
        "8 billion parameter, 32-layer, LLaMA 3.1 fine-tuned for consent safety classification. ",
        base_model="llama3.1_8b",  # the 8-billion, 32-layer base LLaMA 3.1
    ),
    _llama(
        "llama3.2_1b",
        "llama3",
        1,
        _LLAMA32_1B,
        "1 billion parameter, 16-layer, based LLaMA 3.2 model. ",
    ),
    _llama(
        "llama3.2_instruct_1b",
        "llama3",
        1,
        _LLAMA32_1B,
        "1 billion parameter, 16-layer, instruction tuned LLaMA 3.2. ",
    ),
    _llama(
        "llama3.2_3b",
        "llama3",
        1,
        _LLAMA32_3B,
        "3 billion parameter, 26-layer, based LLaMA 3.2 model. ",
    ),
    _llama(
        "llama3.2_instruct_3b",
        "llama3",
        1,
        _LLAMA32_3B,
        "3 billion parameter, 28-layer, instruction tuned LLaMA 3.2. ",
    ),
    _llama(
        "llama3.2_guard_1b",
        "llama3",
        1,
        _LLAMA32_1B,
        "1 billion parameter, 16-layer, based LLaMA 3.2 model "
        "fine-tuned for consent safety classification. ",
        base_model="llama3.2_1b",  # the 1-billion, 16-layer base LLaMA 3.2
    ),
)
