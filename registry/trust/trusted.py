"""Whether a revision carries a signature by a trusted key: what `registry verify
--key` and `registry verify --lock` (with pinned keys) decide.

Pure logic over what a catalog or a server listed: each signature is checked
here again, with the key the user trusts (a key file's PEM, or for a pinned
fingerprint the listed key whose PEM hashes to it) and against the revision's
own files, so a listing's "verified" is never taken on its word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from registry.errors import SignatureError
from registry.preset.manifest import Manifest
from registry.records import SignatureInfo
from registry.trust.signatures import check, fingerprint_of, public_key_pem


def trust_problems(
    label: str,
    manifest: Manifest,
    signatures: Iterable[SignatureInfo],
    trusted: Mapping[str, bytes | None],
) -> list[str]:
    """Why no signature by a key of `trusted` (fingerprint -> PEM, or None to use
    the listed key with that fingerprint) covers exactly `manifest`'s files;
    empty when one does.
    """
    by_key = {info.fingerprint: info for info in signatures}
    problems = []
    for fingerprint, pem in sorted(trusted.items()):
        info = by_key.get(fingerprint)
        if info is None:
            problems.append(f"{label}: no signature by key {fingerprint[:16]}")
            continue
        try:
            key = pem if pem is not None else public_key_pem(info.public_key.encode())
            if fingerprint_of(key) != fingerprint:
                raise SignatureError(f"the listed key is not {fingerprint[:16]}")
            result = check(info.bundle.encode(), manifest, key)
        except SignatureError as error:
            problems.append(f"{label}: the signature by key {fingerprint[:16]} is invalid: {error}")
            continue
        if result.ok:
            return []
        problems += [
            f"{label}: signature by key {fingerprint[:16]}: {problem}"
            for problem in result.problems()
        ]
    return problems
