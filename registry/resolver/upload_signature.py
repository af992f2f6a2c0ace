"""The signature an upload carries (`model.sig` beside the preset's files), and
the namespaces that take only signed uploads (`REGISTRY_REQUIRE_SIGNED`).

`publish` takes `model.sig` out of the staged files before the preset is
validated (it is no file of the revision), checks it against the staged files'
digests and the signer's key before any file reaches the store, and attaches
it to the revision in the transaction that records it. A refused signature
leaves nothing behind, like any refused upload.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.catalog.signatures import registered_key
from registry.errors import SignatureError, SignatureRequiredError
from registry.preset.manifest import Manifest
from registry.preset.upload import Staging
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolver
from registry.trust.policy import parse_policy
from registry.trust.signatures import SIGNATURE_FILE, check, signer_fingerprint

SIDECARS = frozenset({SIGNATURE_FILE})
_SIGN_HINT = (
    "Sign the preset directory (`model_signing sign key DIR --private_key KEY.pem "
    "--signature DIR/model.sig --ignore-paths DIR/manifest.json`) and upload it again"
)


@dataclass(frozen=True)
class UploadSignature:
    """A checked signature, to attach once the revision is recorded."""

    bundle: bytes
    public_key: bytes


def take_signature(staging: Staging) -> bytes | None:
    """Remove the upload's `model.sig` from the staged files; return its bytes."""
    if staging.entries.pop(SIGNATURE_FILE, None) is None:
        return None
    path = staging.directory / SIGNATURE_FILE
    bundle = path.read_bytes()
    path.unlink()
    return bundle


def check_upload_signature(
    resolver: Resolver, request: UploadRequest, manifest: Manifest, bundle: bytes | None
) -> UploadSignature | None:
    """Check an upload's signature against its files, and that its namespace's
    rule (if any) is met: a signature by a trusted key covering exactly the files.

    Raises:
        SignatureRequiredError: the namespace needs a signature by a trusted key,
            and the upload has none.
        SignatureError: the signature is malformed, by an unknown key, not
            valid, or does not cover exactly the uploaded files.
    """
    name, namespace = request.handle.full_name, request.handle.namespace
    policy = parse_policy(resolver.settings.require_signed)
    trusted = policy.trusted_for(namespace)
    listed = ", ".join(sorted(f[:16] for f in trusted or ()))
    if bundle is None:
        if trusted is None:
            return None
        raise SignatureRequiredError(
            f"{namespace} takes only uploads signed by a trusted key (REGISTRY_REQUIRE_SIGNED: "
            f"{listed}), and the upload to {name} has no {SIGNATURE_FILE}. {_SIGN_HINT}."
        )
    fingerprint = signer_fingerprint(bundle)
    if trusted is not None and fingerprint not in trusted:
        raise SignatureRequiredError(
            f"{SIGNATURE_FILE} of the upload to {name} is signed by key {fingerprint[:16]}, "
            f"which {namespace} does not trust (REGISTRY_REQUIRE_SIGNED: {listed}). "
            f"{_SIGN_HINT} with a trusted key."
        )
    public_key = policy.keys.get(fingerprint)
    if public_key is None:
        with resolver.catalog.transaction(write=False) as session:
            public_key = registered_key(session, fingerprint)
    if public_key is None:
        raise SignatureError(
            f"{SIGNATURE_FILE} of the upload to {name} is signed by key {fingerprint[:16]}, "
            "which this registry does not know, so it cannot be checked. Register the key "
            "first (`registry key add NAME PUBLIC.pem`), or upload without it and sign the "
            "revision afterwards (`registry sign NAME --key PRIVATE.pem`)."
        )
    result = check(bundle, manifest, public_key)
    if not result.ok:
        raise SignatureError(
            f"{SIGNATURE_FILE} of the upload to {name} does not cover exactly its files: "
            f"{'; '.join(result.problems())}. {_SIGN_HINT}."
        )
    return UploadSignature(bundle, public_key)
