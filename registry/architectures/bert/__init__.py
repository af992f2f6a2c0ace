"""BERT, as keras-hub's `BertBackbone`: the backbone, its weights, its conversions, its presets."""
