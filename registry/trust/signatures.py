"""Signatures of revisions in OpenSSF model-signing's format, made from digests.

A signature is a sigstore bundle whose DSSE payload is an in-toto statement
listing every file of a revision with its sha256, signed with an elliptic-curve
key (P-256, P-384 or P-521; model-signing refuses others). The payload is built
from the manifest the catalog already holds, so signing costs milliseconds and
never rehashes; it is the very payload `model_signing sign key DIR` makes for
the revision's files, so an exported revision (`registry export`) passes the
stock `model_signing verify key DIR --signature DIR/model.sig --public_key K`.

model-signing builds and checks bundles with modules it keeps private; they are
used here only, and the dependency is pinned to the version read.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from registry.errors import SignatureError
from registry.preset.manifest import Manifest

SIGNATURE_FILE = "model.sig"
# What model-signing's own signer leaves out of a model directory.
IGNORED = (".gitattributes", ".gitignore", ".git", ".github", SIGNATURE_FILE)
__all__ = [
    "IGNORED",
    "SIGNATURE_FILE",
    "SignatureCheck",
    "SignatureError",
    "check",
    "fingerprint_of",
    "load_public_key",
    "public_key_pem",
    "sign",
    "signer_fingerprint",
]


@dataclass(frozen=True)
class SignatureCheck:
    """What a signature by one key says of a revision's files."""

    fingerprint: str  # sha256 of the key's PEM SubjectPublicKeyInfo (the bundle's hint)
    missing: tuple[str, ...] = ()  # revision files the signature does not cover
    extra: tuple[str, ...] = ()  # files it covers that the revision lacks
    different: tuple[str, ...] = ()  # files whose signed sha256 is not the revision's

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def problems(self) -> list[str]:
        return [
            *(f"{path}: not covered by the signature" for path in self.missing),
            *(f"{path}: signed, but not a file of the revision" for path in self.extra),
            *(f"{path}: signed with another sha256" for path in self.different),
        ]


def _public_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint_of(public_pem: bytes) -> str:
    """A public key's fingerprint, as model-signing writes it in the bundle's hint."""
    return hashlib.sha256(public_pem).hexdigest()


def load_public_key(path: Path, password: str | None = None) -> bytes:
    """The PEM of an elliptic-curve public key (or of a private key's public half).

    Raises:
        SignatureError: not a PEM key, or not an elliptic-curve one.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SignatureError(f"Cannot read the key {path}: {error.strerror}.") from error
    return public_key_pem(data, source=str(path), password=password)


def public_key_pem(data: bytes, *, source: str = "The key", password: str | None = None) -> bytes:
    """The canonical PEM (SubjectPublicKeyInfo) of an elliptic-curve key given as
    PEM: its fingerprint is the one model-signing writes as the bundle's hint.

    Raises:
        SignatureError: not a PEM key, or not an elliptic-curve one.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            secret = password.encode() if password else None
            key = serialization.load_pem_private_key(data, secret).public_key()
        except (ValueError, TypeError) as error:
            raise SignatureError(
                f"{source} is not a PEM public key (or an unencrypted private key): {error}."
            ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(
            f"{source} is a {type(key).__name__.removeprefix('_')}, not an elliptic-curve key; "
            "model-signing signs with P-256, P-384 or P-521 keys (`openssl ecparam -genkey "
            "-name prime256v1 -noout -out key.pem`)."
        )
    return _public_pem(key)


def _signed_files(manifest: Manifest) -> dict[str, bytes]:
    """path -> sha256 of the files a signature covers: all but those model-signing's
    verifier leaves out of a directory (`.gitattributes`, ...), or it could never
    pass on an exported revision that holds one."""
    return {
        entry.path: bytes.fromhex(entry.sha256)
        for entry in manifest.files
        if PurePosixPath(entry.path).parts[0] not in IGNORED
    }


def _model_signing_manifest(manifest: Manifest, name: str) -> object:
    from model_signing import manifest as ms_manifest
    from model_signing._hashing.hashing import Digest

    serialization = ms_manifest._FileSerialization(
        "sha256", allow_symlinks=False, ignore_paths=[Path(p) for p in IGNORED]
    )
    items = [
        ms_manifest.FileManifestItem(path=PurePosixPath(path), digest=Digest("sha256", digest))
        for path, digest in _signed_files(manifest).items()
    ]
    return ms_manifest.Manifest(name, items, serialization)


def sign(manifest: Manifest, name: str, private_key: Path, password: str | None = None) -> bytes:
    """A signature (a sigstore bundle, JSON) of the revision `manifest` lists.

    Raises:
        SignatureError: the key cannot be read or is not an elliptic-curve key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing._signing import sign_ec_key, signing

    try:
        key = serialization.load_pem_private_key(
            Path(private_key).read_bytes(), password.encode() if password else None
        )
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SignatureError(
                f"{private_key} is a {type(key).__name__.removeprefix('_')}, not an "
                "elliptic-curve key; model-signing signs with P-256, P-384 or P-521 keys."
            )
        signer = sign_ec_key.Signer(Path(private_key), password)
    except (ValueError, TypeError) as error:
        raise SignatureError(
            f"{private_key} cannot sign: {error}. Use an unencrypted (or --password) PEM "
            "elliptic-curve private key (P-256, P-384 or P-521)."
        ) from error
    payload = signing.Payload(_model_signing_manifest(manifest, name))  # type: ignore[arg-type]
    bundle = signer.sign(payload)
    with tempfile.TemporaryDirectory() as scratch:  # the library writes bundles to files
        target = Path(scratch) / SIGNATURE_FILE
        bundle.write(target)
        return target.read_bytes()


def signer_fingerprint(bundle: bytes) -> str:
    """The key fingerprint a bundle names (unverified: `check` proves it)."""
    try:
        return str(json.loads(bundle)["verificationMaterial"]["publicKey"]["hint"])
    except (ValueError, KeyError, TypeError) as error:
        raise SignatureError(
            "Not a model-signing bundle signed with a key (no publicKey hint)."
        ) from error


def check(bundle: bytes, manifest: Manifest, public_key_pem: bytes) -> SignatureCheck:
    """Check a signature's cryptography with `public_key_pem`, then that it covers
    exactly the revision's files with their sha256 (no file missing, none extra).

    Raises:
        SignatureError: the bundle is malformed, or not a valid signature by this key.
    """
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    fingerprint = fingerprint_of(public_key_pem)
    with tempfile.TemporaryDirectory() as scratch:
        key_path, bundle_path = Path(scratch) / "key.pem", Path(scratch) / SIGNATURE_FILE
        key_path.write_bytes(public_key_pem)
        bundle_path.write_bytes(bundle)
        try:
            signed = sign_ec_key.Verifier(key_path).verify(
                sign_sigstore_pb.Signature.read(bundle_path)
            )
        except Exception as error:  # the library raises ValueError and protobuf's own errors
            raise SignatureError(
                f"The signature is not valid for key {fingerprint[:16]}: {error}"
            ) from error
    covered = {d.identifier: d.digest.digest_hex for d in signed.resource_descriptors()}
    files = {path: digest.hex() for path, digest in _signed_files(manifest).items()}
    return SignatureCheck(
        fingerprint=fingerprint,
        missing=tuple(sorted(files.keys() - covered.keys())),
        extra=tuple(sorted(covered.keys() - files.keys())),
        different=tuple(sorted(p for p in files.keys() & covered.keys() if files[p] != covered[p])),
    )
