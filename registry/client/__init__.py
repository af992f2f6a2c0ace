"""The Python client: `Registry`, over the embedded catalog or a registry server.

```python
from registry import Registry

registry = Registry()                          # the embedded catalog and store
backbone = registry.load("gpt2_tiny_demo")     # a verified GPT2Backbone
registry.search("medium", sort="downloads")
registry.lock(["gpt2_tiny_demo"], "presets.lock")
assert registry.verify_lock("presets.lock").ok
```

`Registry` chooses its backend once (`backend.py`): `LocalBackend` (this
machine's catalog and store, `local.py`) or `RemoteBackend` (a server's JSON
API, with this machine's store as its cache, `remote.py`).
"""

from registry.client.registry import Registry

__all__ = ["Registry"]
