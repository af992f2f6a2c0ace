"""Keras model code. `ARCHITECTURES` is the allow-list of classes presets may name.

Adding an architecture means adding its module here and one entry below.
"""

from registry.architectures.backbone import Backbone
from registry.architectures.gpt2 import GPT2Backbone

ARCHITECTURES: dict[str, type[Backbone]] = {
    "GPT2Backbone": GPT2Backbone,
}

__all__ = ["ARCHITECTURES", "Backbone", "GPT2Backbone"]
