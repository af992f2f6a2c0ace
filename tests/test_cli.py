"""The `registry` console script, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REGISTRY = shutil.which("registry", path=str(Path(sys.executable).parent))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert REGISTRY, "the `registry` console script is not installed"
    return subprocess.run(
        [REGISTRY, *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_load_prints_the_summary() -> None:
    result = run("load", "gpt2_tiny_demo")
    assert result.returncode == 0, result.stderr
    assert "GPT2Backbone" in result.stdout
    assert "transformer_layer_1" in result.stdout
    assert "parameters: 78,144" in result.stdout
    assert "dtype: float32" in result.stdout
    assert "loaded in" in result.stdout
    assert result.stderr == ""


def test_load_json(fixtures: Path) -> None:
    result = run("load", str(fixtures / "hf_tiny_gpt2"), "--dtype", "bfloat16", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["class"] == "GPT2Backbone"
    assert body["dtype"] == "bfloat16"
    assert body["parameters"] == sum(layer["parameters"] for layer in body["layers"])
    assert body["seconds"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("load", "/nonexistent/preset"), "Preset directory /nonexistent/preset does not exist"),
        (  # no network here: one line naming the source and the way out, no urllib3 chain
            ("load", "gpt2_base_en"),
            "keras/gpt2_base_en is not in the store yet, and fetching it failed: Kaggle could "
            "not be reached to download kaggle://keras/gpt2/keras/gpt2_base_en/3 (",
        ),
    ],
)
def test_errors_are_one_line_on_stderr(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "Max retries" not in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "load", "/nonexistent/preset")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    unreachable = run("--debug", "load", "gpt2_base_en")  # the whole chain, with --debug
    assert "REGISTRY_OFFLINE=1" in unreachable.stderr and "Max retries" in unreachable.stderr


def test_usage_errors_exit_2() -> None:
    assert run("load").returncode == 2
    assert run("no-such-verb").returncode == 2


# Runs `registry --help` in a fresh interpreter, then reports what it imported.
_HELP_IMPORTS = """
import contextlib, io, json, sys
from registry.cli import main
sys.argv = ["registry", "--help"]
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main()
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def test_help_and_version_import_no_keras() -> None:
    result = run("--help")
    assert result.returncode == 0 and "load" in result.stdout
    assert run("--version").stdout.startswith("registry ")
    probe = subprocess.run(
        [sys.executable, "-c", _HELP_IMPORTS],
        capture_output=True, check=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    report = json.loads(probe.stdout)
    assert report["code"] == 0 and "load" in report["help"]
    heavy = {"keras", "keras_hub", "tensorflow", "torch", "jax", "kagglehub"}
    assert heavy.isdisjoint(report["modules"]), heavy & set(report["modules"])


def test_sync_corrupt_repair_and_gc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "home"))
    synced = run("sync", "gpt2_tiny_demo", "--json")
    assert synced.returncode == 0, synced.stderr
    tree = Path(json.loads(synced.stdout)["path"])
    weights = tree / "model.weights.h5"
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))

    broken = run("load", "gpt2_tiny_demo")
    assert broken.returncode == 1
    assert "keras/gpt2_tiny_demo: model.weights.h5: expected sha256" in broken.stderr
    assert "registry sync --force keras/gpt2_tiny_demo" in broken.stderr

    repaired = run("sync", "--force", "keras/gpt2_tiny_demo")
    assert repaired.returncode == 0, repaired.stderr
    assert run("load", "gpt2_tiny_demo").returncode == 0
    collected = run("gc", "--grace", "0", "--json")
    assert collected.returncode == 0
    assert json.loads(collected.stdout)["trees"] == 0


def test_lock_and_verify_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras_hub_preset: Path
) -> None:
    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "home"))
    synced = run("sync", str(keras_hub_preset), "--json")
    assert synced.returncode == 0, synced.stderr
    name = json.loads(synced.stdout)["preset"]
    lock_file = tmp_path / "presets.lock"
    assert run("lock", name, "-o", str(lock_file)).returncode == 0
    assert run("verify", "--lock", str(lock_file)).returncode == 0

    store = tmp_path / "home" / "store"
    blob = next(p for p in (store / "blobs" / "sha256").glob("*/*") if p.stat().st_size > 100_000)
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    failed = run("verify", "--lock", str(lock_file), "--full", "--json")
    assert failed.returncode == 1
    assert f"MISMATCH {name} model.weights.h5: expected {blob.name}" in failed.stderr
    report = json.loads(failed.stdout)
    assert not report["ok"] and report["mismatches"][0]["expected"] == blob.name

    assert run("sync", "--force", name).returncode == 0
    assert run("verify", "--lock", str(lock_file), "--full").returncode == 0
    assert run("verify", "--lock", str(tmp_path / "absent.lock")).returncode == 2
    listed = json.loads(run("search", "--synced", "--json").stdout)
    assert name in {f"{item['namespace']}/{item['name']}" for item in listed["items"]}


def test_upload_and_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras_hub_preset: Path
) -> None:
    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "home"))
    # Tags are lowercased on every way in (the form, the API, Python and here).
    uploaded = run("upload", str(keras_hub_preset), "team/tiny", "--tag", "GPT2", "-m", "first")
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stdout.startswith("team/tiny@")
    digest = uploaded.stdout.split("@")[1].split()[0]
    assert run("alias", "team/tiny", "stable", digest).returncode == 0
    info = json.loads(run("info", "team/tiny", "--json").stdout)
    assert info["revisions"][0]["aliases"] == ["latest", "stable"]
    assert info["revisions"][0]["message"] == "first"
    assert info["tags"] == ["gpt2"] and info["id"] == "team/tiny"
    refused = run("upload", str(keras_hub_preset), "team/tiny", "--tag", "my tag")
    assert refused.returncode == 1
    assert "tag 'my tag' is not a valid name: use letters, digits" in refused.stderr


def test_tokens_serve_and_remote_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras_hub_preset: Path
) -> None:
    from tests.web.live import free_port

    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "server"))
    created = run("token", "create", "--scope", "write", "--owner", "alice", "--json")
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["token"]
    listed = json.loads(run("token", "list", "--owner", "alice", "--json").stdout)
    assert [(t["scope"], t["revoked"]) for t in listed] == [("write", False)]
    assert secret not in json.dumps(listed)

    port = free_port()
    server = subprocess.Popen(
        [REGISTRY or "registry", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.2)
        monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "client"))
        monkeypatch.setenv("REGISTRY_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("REGISTRY_TOKEN", secret)
        assert run("whoami").stdout.startswith("alice (write")
        uploaded = run("upload", str(keras_hub_preset), "tiny", "--json")
        assert uploaded.returncode == 0, uploaded.stderr
        assert json.loads(uploaded.stdout)["preset"] == "alice/tiny"
        found = json.loads(run("search", "tiny", "--json").stdout)
        assert "alice/tiny" in [p["id"] for p in found["items"]]
        loaded = run("load", "alice/tiny")
        assert loaded.returncode == 0 and "parameters: 28,256" in loaded.stdout, loaded.stderr
        assert run("delete", "alice/tiny", "--yes").returncode == 0
        gone = run("info", "alice/tiny")
        assert gone.returncode == 1 and "alice/tiny" in gone.stderr
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"Serving the registry at http://127.0.0.1:{port}/" in output

    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "server"))
    monkeypatch.delenv("REGISTRY_URL")
    assert run("token", "revoke", str(listed[0]["id"]), "--owner", "alice").returncode == 0
    assert json.loads(run("token", "list", "--owner", "alice", "--json").stdout)[0]["revoked"]
