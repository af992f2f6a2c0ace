"""Gemma and Gemma 2, as keras-hub's `GemmaBackbone`: backbone, weights, conversions, presets."""
