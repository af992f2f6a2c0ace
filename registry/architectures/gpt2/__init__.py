"""GPT-2, as keras-hub's `GPT2Backbone`: the backbone, its weights, its conversions, its presets."""
