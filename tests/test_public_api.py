"""What `import registry` offers, and what it costs."""

from __future__ import annotations

import subprocess
import sys


def test_public_names() -> None:
    from registry import Backbone, GPT2Backbone
    from registry.architectures import ARCHITECTURES

    assert issubclass(GPT2Backbone, Backbone)
    assert ARCHITECTURES["GPT2Backbone"] is GPT2Backbone


def test_import_registry_does_not_import_keras() -> None:
    code = (
        "import sys, registry, registry.errors, registry.preset.manifest; "
        "print('keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_registry_never_imports_web() -> None:
    code = (
        "import sys, registry.cli, registry.resolver.load, registry.architectures; "
        "print(any(m == 'web' or m.startswith('web.') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
