"""GPT-2's tokenizer: byte-level BPE with GPT-2's pre-split, as keras-hub's `GPT2Tokenizer`."""

from __future__ import annotations

from registry.architectures.subword import BytePairTokenizer


class GPT2Tokenizer(BytePairTokenizer):
    """GPT-2's byte-level BPE: keras-hub's `GPT2Tokenizer` (`vocabulary.json`,
    `merges.txt`) or a transformers checkpoint's `tokenizer.json`.

    Text is pre-split by GPT-2's own regex (as OpenAI's encoder and transformers
    do); `<|endoftext|>` is the start, end and only special token, matched whole
    in the text; padding is id 0, as keras-hub pads.

    Example:
        ```python
        tokenizer = GPT2Tokenizer.from_preset(demo_preset_dir())
        tokenizer.encode("a  b", add_special_tokens=True)  # <|endoftext|>, a, Ġ, Ġb
        ```
    """

    layer_name = "gpt2_tokenizer"
    start_token = "<|endoftext|>"
    end_token = "<|endoftext|>"
    unsplittable_tokens = ("<|endoftext|>",)
    transformers_classes = ("GPT2Tokenizer", "GPT2TokenizerFast")
