"""keras-hub's built-in BERT presets, as keras-hub 0.32's preset table gives them.

Every entry is a `BertBackbone`: keras-hub's BERT, sentence-transformers, BGE,
multilingual-E5 and mixedbread checkpoints share the class, and
`bert_tiny_en_uncased_sst2` is a text classifier whose backbone (the one listed
here) is a `BertBackbone`, as its description says.
"""

from __future__ import annotations

import functools

from registry.architectures.spec import kaggle_preset

_bert = functools.partial(kaggle_preset, "BertBackbone")


PRESETS = (
    _bert(
        "bert_tiny_en_uncased",
        "bert",
        3,
        4_385_920,
        "2-layer BERT model where all input is lowercased. Trained on English Wikipedia"
        " + BooksCorpus.",
    ),
    _bert(
        "bert_small_en_uncased",
        "bert",
        3,
        28_763_648,
        "4-layer BERT model where all input is lowercased. Trained on English Wikipedia"
        " + BooksCorpus.",
    ),
    _bert(
        "bert_medium_en_uncased",
        "bert",
        3,
        41_373_184,
        "8-layer BERT model where all input is lowercased. Trained on English Wikipedia"
        " + BooksCorpus.",
    ),
    _bert(
        "bert_base_en_uncased",
        "bert",
        3,
        109_482_240,
        "12-layer BERT model where all input is lowercased. Trained on English "
        "Wikipedia + BooksCorpus.",
    ),
    _bert(
        "bert_base_en",
        "bert",
        3,
        108_310_272,
        "12-layer BERT model where case is maintained. Trained on English Wikipedia + BooksCorpus.",
    ),
    _bert(
        "bert_base_zh",
        "bert",
        3,
        102_267_648,
        "12-layer BERT model. Trained on Chinese Wikipedia.",
    ),
    _bert(
        "bert_base_multi",
        "bert",
        3,
        177_853_440,
        "12-layer BERT model where case is maintained. Trained on trained on Wikipedias"
        " of 104 languages",
    ),
    _bert(
        "bert_large_en_uncased",
        "bert",
        3,
        335_141_888,
        "24-layer BERT model where all input is lowercased. Trained on English "
        "Wikipedia + BooksCorpus.",
    ),
    _bert(
        "bert_large_en",
        "bert",
        3,
        333_579_264,
        "24-layer BERT model where case is maintained. Trained on English Wikipedia + BooksCorpus.",
    ),
    _bert(
        "bert_tiny_en_uncased_sst2",
        "bert",
        5,
        4_385_920,
        "The bert_tiny_en_uncased backbone model fine-tuned on the SST-2 sentiment "
        "analysis dataset.",
        base_model="bert_tiny_en_uncased",
    ),
    _bert(
        "all_minilm_l6_v2_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM sentence embedding model. Maps sentences to 384-dimensional "
        "dense vectors. Trained on 1B+ sentence pairs for semantic similarity, search, "
        "and clustering.",
    ),
    _bert(
        "all_minilm_l6_v1_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM sentence embedding model (v1). Maps sentences to "
        "384-dimensional dense vectors.",
    ),
    _bert(
        "all_minilm_l12_v2_en",
        "sentence-transformers",
        1,
        33_360_000,
        "12-layer MiniLM sentence embedding model. Maps sentences to 384-dimensional "
        "dense vectors. Higher accuracy than the L6 variant with moderate speed "
        "tradeoff.",
    ),
    _bert(
        "paraphrase_minilm_l3_v2_en",
        "sentence-transformers",
        1,
        17_066_496,
        "3-layer MiniLM model for paraphrase detection. Ultra-fast with 384-dimensional"
        " sentence embeddings.",
    ),
    _bert(
        "paraphrase_minilm_l6_v2_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM model for paraphrase detection. Fast with 384-dimensional "
        "sentence embeddings.",
    ),
    _bert(
        "paraphrase_minilm_l12_v2_en",
        "sentence-transformers",
        1,
        33_360_000,
        "12-layer MiniLM model for paraphrase detection with 384-dimensional sentence embeddings.",
    ),
    _bert(
        "multi_qa_minilm_l6_cos_v1_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM model for semantic search with cosine similarity. Trained on "
        "215M QA pairs.",
    ),
    _bert(
        "multi_qa_minilm_l6_dot_v1_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM model for semantic search with dot-product similarity. Trained "
        "on 215M QA pairs.",
    ),
    _bert(
        "msmarco_minilm_l6_cos_v5_en",
        "sentence-transformers",
        1,
        22_713_216,
        "6-layer MiniLM model for information retrieval with cosine similarity. Trained"
        " on MS MARCO passage ranking.",
    ),
    _bert(
        "msmarco_minilm_l12_cos_v5_en",
        "sentence-transformers",
        1,
        33_360_000,
        "12-layer MiniLM model for information retrieval with cosine similarity. "
        "Trained on MS MARCO passage ranking.",
    ),
    _bert(
        "bge_small_en",
        "bge",
        1,
        33_360_000,
        "12-layer BGE small English embedding model (v1). Maps sentences to "
        "384-dimensional L2-normalized dense vectors. Optimized for dense retrieval and"
        " semantic similarity.",
    ),
    _bert(
        "bge_base_en",
        "bge",
        1,
        109_482_240,
        "12-layer BGE base English embedding model (v1). Maps sentences to "
        "768-dimensional L2-normalized dense vectors. Optimized for dense retrieval and"
        " semantic similarity.",
    ),
    _bert(
        "bge_large_en",
        "bge",
        1,
        335_141_888,
        "24-layer BGE large English embedding model (v1). Maps sentences to "
        "1024-dimensional L2-normalized dense vectors. Highest accuracy in the BGE "
        "English v1 family.",
    ),
    _bert(
        "bge_small_v1.5_en",
        "bge",
        1,
        33_360_000,
        "12-layer BGE small English embedding model (v1.5). Maps sentences to "
        "384-dimensional L2-normalized dense vectors. Optimized for dense retrieval and"
        " semantic similarity.",
    ),
    _bert(
        "bge_base_v1.5_en",
        "bge",
        1,
        109_482_240,
        "12-layer BGE base English embedding model (v1.5). Maps sentences to "
        "768-dimensional L2-normalized dense vectors. Optimized for dense retrieval and"
        " semantic similarity.",
    ),
    _bert(
        "bge_large_v1.5_en",
        "bge",
        1,
        335_141_888,
        "24-layer BGE large English embedding model (v1.5). Maps sentences to "
        "1024-dimensional L2-normalized dense vectors. Highest accuracy in the BGE "
        "English family.",
    ),
    _bert(
        "bge_base_zh",
        "bge",
        1,
        102_267_648,
        "12-layer BGE base Chinese embedding model (v1). Maps sentences to "
        "768-dimensional L2-normalized dense vectors. Optimized for dense retrieval on "
        "Chinese text.",
    ),
    _bert(
        "bge_large_zh",
        "bge",
        1,
        325_522_432,
        "24-layer BGE large Chinese embedding model (v1). Maps sentences to "
        "1024-dimensional L2-normalized dense vectors. Highest accuracy in the BGE "
        "Chinese v1 family.",
    ),
    _bert(
        "bge_small_v1.5_zh",
        "bge",
        1,
        23_953_920,
        "12-layer BGE small Chinese embedding model (v1.5). Maps sentences to "
        "384-dimensional L2-normalized dense vectors. Optimized for dense retrieval on "
        "Chinese text.",
    ),
    _bert(
        "bge_base_v1.5_zh",
        "bge",
        1,
        102_267_648,
        "12-layer BGE base Chinese embedding model (v1.5). Maps sentences to "
        "768-dimensional L2-normalized dense vectors. Optimized for dense retrieval on "
        "Chinese text.",
    ),
    _bert(
        "bge_large_v1.5_zh",
        "bge",
        1,
        325_522_432,
        "24-layer BGE large Chinese embedding model (v1.5). Maps sentences to "
        "1024-dimensional L2-normalized dense vectors. Highest accuracy in the BGE "
        "Chinese v1.5 family.",
    ),
    _bert(
        "bge_llm_embedder",
        "bge",
        1,
        109_482_240,
        "BGE-LLM-Embedder: 12-layer embedding model for retrieval-augmented language "
        "model applications. Maps text to 768-dimensional dense vectors and supports "
        "knowledge, memory, demonstration, and tool retrieval tasks.",
    ),
    _bert(
        "multilingual_e5_small",
        "multilingual-e5",
        1,
        117_653_760,
        "12-layer multilingual E5 embedding model with 384-dimensional vectors. Fine-"
        "tuned for dense retrieval across 100+ languages using weakly-supervised "
        "contrastive pre-training. Prefix inputs with 'query: ' for queries and "
        "'passage: ' for documents.",
    ),
    _bert(
        "mxbai_embed_large_v1_en",
        "mxbai-embed",
        1,
        335_141_888,
        "24-layer BERT sentence embedding model by mixedbread-ai. Maps sentences to "
        "1024-dimensional dense vectors using CLS pooling. Trained for semantic "
        "similarity, search, and clustering tasks.",
    ),
    _bert(
        "mxbai_embed_2d_large_v1_en",
        "mxbai-embed",
        1,
        335_141_888,
        "24-layer BERT sentence embedding model by mixedbread-ai with 2D Matryoshka "
        "representation learning. Maps sentences to 1024-dimensional dense vectors "
        "using CLS pooling. Supports flexible truncation of both layers and dimensions.",
    ),
    _bert(
        "mxbai_embed_xsmall_v1_en",
        "mxbai-embed",
        1,
        24_089_472,
        "6-layer BERT sentence embedding model by mixedbread-ai. Maps sentences to "
        "384-dimensional dense vectors using mean pooling. Compact model for fast "
        "inference.",
    ),
)
