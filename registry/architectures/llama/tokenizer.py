"""Llama's tokenizers: SentencePiece (Llama 2) and byte-level BPE (Llama 3), as keras-hub's."""

from __future__ import annotations

from registry.architectures.subword import BytePairTokenizer, SentencePieceTokenizer

# Llama 3's pre-split (Meta's tiktoken pattern, as its tokenizer.json and
# keras-hub's eager path write it): contractions in any case, letters with one
# leading non-letter, digits in threes, punctuation runs, newlines, spaces.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class LlamaTokenizer(SentencePieceTokenizer):
    """Llama 2's SentencePiece model: keras-hub's `LlamaTokenizer` (`vocabulary.spm`)
    or a transformers checkpoint's `tokenizer.json` (or `tokenizer.model`).

    A prompt starts with `<s>` (`add_special_tokens=True`); `</s>` ends a text;
    padding is id 0, as keras-hub pads.
    """

    layer_name = "llama_tokenizer"
    start_token = "<s>"
    end_token = "</s>"
    transformers_classes = ("LlamaTokenizer", "LlamaTokenizerFast")


class Llama3Tokenizer(BytePairTokenizer):
    """Llama 3's byte-level BPE: keras-hub's `Llama3Tokenizer` (`vocabulary.json`,
    `merges.txt`) or a transformers checkpoint's `tokenizer.json`.

    Text is pre-split by Llama 3's own pattern; its special tokens are matched
    whole. A prompt starts with `<|begin_of_text|>`; generation stops at
    `<|end_of_text|>` or `<|eot_id|>` (instruction-tuned models end turns with it).
    """

    layer_name = "llama3_tokenizer"
    split_pattern = LLAMA3_SPLIT
    start_token = "<|begin_of_text|>"
    end_token = "<|end_of_text|>"
    stop_tokens = ("<|eot_id|>", "<|end_of_text|>")
    misc_special_tokens = ("<|start_header_id|>", "<|end_header_id|>")
    # keras-hub's `Llama3Tokenizer` special tokens, all matched whole in text.
    unsplittable_tokens = (
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    )
    # Llama 3 checkpoints name transformers' generic class.
    transformers_classes = ("PreTrainedTokenizerFast", "TokenizersBackend", "LlamaTokenizerFast")
