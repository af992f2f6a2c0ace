"""Llama 2, 3, 3.1 and 3.2, as keras-hub's `LlamaBackbone`.

The backbone and its layers, its weights' layout, its transformers conversion
and its built-in presets.
"""
