"""BERT's tokenizer: WordPiece after BERT's word splitting, as keras-hub's `BertTokenizer`."""

from __future__ import annotations

from registry.architectures.subword import WordPieceTokenizer


class BertTokenizer(WordPieceTokenizer):
    """BERT's WordPiece: keras-hub's `BertTokenizer` (`vocabulary.txt`) or a
    transformers checkpoint's `tokenizer.json`.

    A text is fed as `[CLS] text [SEP]` (`add_special_tokens=True`, as keras-hub's
    classifier preprocessor packs one segment and transformers' `tokenizer(text)`
    does); `[PAD]` pads.

    Example:
        ```python
        tokenizer = BertTokenizer.from_preset("./bert_tiny_en_uncased")
        tokenizer.encode("Hello, world!", add_special_tokens=True)
        ```
    """

    layer_name = "bert_tokenizer"
    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "[PAD]"
    packs_end_token = True
    special_token_names = ("[CLS]", "[SEP]", "[PAD]", "[MASK]")
    transformers_classes = ("BertTokenizer", "BertTokenizerFast")
