"""Which namespaces take only signed uploads, and whose signatures count there:
`REGISTRY_REQUIRE_SIGNED`.

The setting is a list of rules separated by `;`. A rule is `NAMESPACES:KEYS`:
namespaces separated by commas (`*` for every namespace), then the trusted keys
separated by commas, each a path to a PEM public key or the 64-hex fingerprint
of a key registered on the server (`registry key add NAME PUBLIC.pem`):

```
REGISTRY_REQUIRE_SIGNED="acme,acme-research:/etc/registry/acme.pub.pem;keras:9f86d081...0a08"
```

An upload into `acme` then needs a `model.sig` (the preset directory's
signature, as `model_signing sign key` writes it) that verifies with
`acme.pub.pem` and covers exactly the uploaded files; anything else is refused
before a file is stored. A namespace several rules name trusts the keys of each.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import SignatureError
from registry.trust.signatures import fingerprint_of, load_public_key

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
EVERY_NAMESPACE = "*"
SETTING = "REGISTRY_REQUIRE_SIGNED"


@dataclass(frozen=True)
class TrustRule:
    """Namespaces (or `*`) and the fingerprints of the keys trusted to sign there."""

    namespaces: frozenset[str]
    fingerprints: frozenset[str]

    def covers(self, namespace: str) -> bool:
        return EVERY_NAMESPACE in self.namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class SigningPolicy:
    """The parsed setting; empty when unset (no namespace requires signatures)."""

    rules: tuple[TrustRule, ...] = ()
    # fingerprint -> PEM of the keys the setting names by file; keys named by
    # fingerprint alone are looked up among the registered ones.
    keys: Mapping[str, bytes] = field(default_factory=dict)

    def trusted_for(self, namespace: str) -> frozenset[str] | None:
        """The fingerprints trusted to sign in `namespace`; None: it needs no signature."""
        rules = [rule for rule in self.rules if rule.covers(namespace)]
        if not rules:
            return None
        return frozenset().union(*(rule.fingerprints for rule in rules))


@functools.lru_cache(maxsize=8)
def parse_policy(text: str | None) -> SigningPolicy:
    """Parse `REGISTRY_REQUIRE_SIGNED` (see the module's docstring).

    Raises:
        ValueError: a rule without namespaces or keys, a key that is neither a
            fingerprint nor a readable elliptic-curve public key.
    """
    rules, keys = [], {}
    for raw in (text or "").split(";"):
        if not raw.strip():
            continue
        names, colon, trusted = raw.partition(":")
        namespaces = frozenset(n.strip() for n in names.split(",") if n.strip())
        entries = [entry.strip() for entry in trusted.split(",") if entry.strip()]
        if not colon or not namespaces or not entries:
            raise ValueError(
                f"{SETTING}: the rule {raw.strip()!r} needs namespaces and trusted keys, as "
                "`ns1,ns2:/path/key.pub.pem,<64-hex fingerprint>` (rules separated by `;`)."
            )
        fingerprints = set()
        for entry in entries:
            fingerprint, pem = _trusted_key(entry)
            fingerprints.add(fingerprint)
            if pem is not None:
                keys[fingerprint] = pem
        rules.append(TrustRule(namespaces, frozenset(fingerprints)))
    return SigningPolicy(tuple(rules), keys)


def _trusted_key(entry: str) -> tuple[str, bytes | None]:
    if _FINGERPRINT.match(entry):
        return entry, None
    try:
        pem = load_public_key(Path(entry).expanduser())
    except SignatureError as error:
        raise ValueError(
            f"{SETTING}: {entry!r} is neither a 64-hex key fingerprint nor a readable "
            f"elliptic-curve public key ({error})"
        ) from error
    return fingerprint_of(pem), pem
