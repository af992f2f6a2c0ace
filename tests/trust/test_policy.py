"""`REGISTRY_REQUIRE_SIGNED`: namespaces and the keys they trust."""

from __future__ import annotations

import pytest

from registry.config import Settings
from registry.trust.policy import parse_policy
from tests.trust.conftest import KeyPair


def test_rules_name_namespaces_and_their_keys(ec_keys: dict[str, KeyPair]) -> None:
    alice, bob = ec_keys["alice"], ec_keys["bob"]
    policy = parse_policy(f"acme, research:{alice.public} ; research:{bob.fingerprint}")
    assert policy.trusted_for("acme") == {alice.fingerprint}
    assert policy.trusted_for("research") == {alice.fingerprint, bob.fingerprint}
    assert policy.trusted_for("keras") is None
    assert policy.keys == {alice.fingerprint: alice.public_pem}
    everywhere = parse_policy(f"*:{bob.public}")
    assert everywhere.trusted_for("anyone") == {bob.fingerprint}
    assert parse_policy(None).trusted_for("acme") is None


def test_the_setting_is_read_from_the_environment(ec_keys: dict[str, KeyPair]) -> None:
    text = f"acme:{ec_keys['alice'].public}"
    settings = Settings.from_env({"REGISTRY_HOME": "/tmp/x", "REGISTRY_REQUIRE_SIGNED": text})
    assert settings.require_signed == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("acme", "needs namespaces and trusted keys"),
        ("acme:", "needs namespaces and trusted keys"),
        (":0123", "needs namespaces and trusted keys"),
        ("acme:/nonexistent/key.pem", "neither a 64-hex key fingerprint nor a readable"),
    ],
)
def test_a_bad_rule_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy(text)


def test_a_private_key_file_names_its_public_half(ec_keys: dict[str, KeyPair]) -> None:
    alice = ec_keys["alice"]
    assert parse_policy(f"acme:{alice.private}").trusted_for("acme") == {alice.fingerprint}
