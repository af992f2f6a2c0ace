"""Where the parameters are: counts by category agree with the architectures' own formulas."""

from __future__ import annotations

import json

import pytest

from registry.architectures import allowlist
from registry.architectures.breakdown import category, parameter_breakdown
from tests.conftest import FIXTURES


def _fixture(name: str) -> tuple[object, dict]:
    config = json.loads((FIXTURES / name / "config.json").read_text())
    return allowlist.spec_named(config["class_name"]), config["config"]


def test_gpt2_blocks_follow_the_textbook_formulas() -> None:
    spec, arguments = _fixture("keras_hub_tiny_gpt2")
    h, i, v = arguments["hidden_dim"], arguments["intermediate_dim"], arguments["vocabulary_size"]
    parts = parameter_breakdown(spec, arguments)  # type: ignore[arg-type]
    embeddings, blocks, output = parts.parts
    assert embeddings.counts["embeddings"] == (v + arguments["max_sequence_length"]) * h
    assert blocks.label == f"Blocks 0-{arguments['num_layers'] - 1}, each"
    assert blocks.blocks == arguments["num_layers"]
    # q, k, v and output projections with their biases; two layer norms; two dense layers.
    assert blocks.counts["attention"] == 4 * h * h + 4 * h
    assert blocks.counts["norms"] == 4 * h
    assert blocks.counts["feed_forward"] == 2 * h * i + i + h
    assert output.counts == {**dict.fromkeys(output.counts, 0), "norms": 2 * h}


@pytest.mark.parametrize(
    "name",
    ["keras_hub_tiny_gpt2", "keras_hub_tiny_bert", "keras_hub_tiny_gemma2", "keras_hub_tiny_llama",
     "keras_hub_odd_llama", "keras_hub_classifier_bert"],
)  # fmt: skip
def test_the_parts_add_up_to_the_parameter_count(name: str) -> None:
    spec, arguments = _fixture(name)
    parts = parameter_breakdown(spec, arguments)  # type: ignore[arg-type]
    assert parts.total == spec.parameter_count(arguments)  # type: ignore[attr-defined]
    assert all(parts.totals[kind] > 0 for kind in ("embeddings", "attention", "feed_forward"))


def test_grouped_query_attention_and_an_untied_head() -> None:
    spec, arguments = _fixture("keras_hub_tiny_llama")
    h, v = arguments["hidden_dim"], arguments["vocabulary_size"]
    q, kv = arguments["num_query_heads"], arguments["num_key_value_heads"]
    head = h // q
    parts = parameter_breakdown(spec, arguments)  # type: ignore[arg-type]
    block = next(part for part in parts.parts if part.blocks)
    assert block.counts["attention"] == 2 * h * q * head + 2 * h * kv * head  # no biases
    assert block.counts["feed_forward"] == 3 * h * arguments["intermediate_dim"]
    assert parts.parts[-1].label == "Output"
    assert parts.parts[-1].counts["head"] == v * h  # the untied language-model head
    assert parts.parts[0].counts["head"] == 0


def test_categories_by_keras_hub_layer_names() -> None:
    assert category("layers/reversible_embedding/vars/0") == "embeddings"
    assert category("layers/gemma_decoder_block_3/pre_attention_norm/vars/0") == "norms"
    assert category("layers/transformer_encoder/_self_attention_layer_norm/vars/1") == "norms"
    assert category("layers/gemma_decoder_block/gating_ffw_2/vars/0") == "feed_forward"
    assert category("layers/dense/vars/0") == "head"  # BERT's pooler
