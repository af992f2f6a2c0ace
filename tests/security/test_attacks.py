"""One test per attack class: the answer (a 4xx naming the problem over the API,
a specific exception in Python), nothing written (no blob, row or temp file),
and a server that still serves the next request."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry import GPT2Backbone, Registry
from registry.errors import (
    PresetFormatError,
    RegistryError,
    UnsafePresetError,
    UploadTooLargeError,
    WeightsMismatchError,
)
from tests.security import attacks
from tests.web.live import settings_at, token
from web.app import create_app

Attack = Callable[[Path, Path, Path], attacks.Upload]

a = attacks
U, T, W, F = UnsafePresetError, UploadTooLargeError, WeightsMismatchError, PresetFormatError
UNSAFE, LARGE, WEIGHTS, INVALID = "unsafe_preset", "too_large", "weights_mismatch", "invalid_preset"

# attack, HTTP status, error code, message (regex), the Python exception
CASES: list[tuple[Attack, int, str, str, type[Exception]]] = [
    (a.traversal_in_tar, 422, UNSAFE, r"leaves the preset directory", U),
    (a.traversal_in_zip, 422, UNSAFE, r"leaves the preset directory", U),
    (a.traversal_in_multipart, 422, UNSAFE, r"leaves the preset directory", U),
    (a.absolute_path_in_tar, 422, UNSAFE, r"absolute path", U),
    (a.absolute_path_in_multipart, 422, UNSAFE, r"absolute path", U),
    (a.symlink_in_tar, 422, UNSAFE, r"link, device", U),
    (a.hardlink_in_tar, 422, UNSAFE, r"link, device", U),
    (a.device_in_tar, 422, UNSAFE, r"link, device", U),
    (a.symlink_in_zip, 422, UNSAFE, r"link, device", U),
    (a.zip_bomb, 413, LARGE, r"expands past 200 times", T),
    (a.tar_bomb, 413, LARGE, r"expands past 200 times", T),
    (a.oversize_file, 413, LARGE, r"100000-byte limit per file", T),
    (a.oversize_upload, 413, LARGE, r"150000-byte (upload )?limit", T),
    (a.too_many_files, 413, LARGE, r"at most 8 files", T),
    (a.config_naming_os, 422, UNSAFE, r"'os>system'.*not an allowed", U),
    (a.config_naming_subprocess, 422, UNSAFE, r"module='subprocess'", U),
    (a.config_naming_builtins, 422, UNSAFE, r"'builtins>eval'", U),
    (a.config_naming_an_unknown_class, 422, UNSAFE, r"'MyBackbone'", U),
    (a.lambda_layer, 422, UNSAFE, r"class_name='Lambda'", U),
    (a.dunder_key, 422, UNSAFE, r"'__reduce__'", U),
    (a.pickle_file, 422, UNSAFE, r"pickle.*safetensors", U),
    (a.h5_extra_dataset, 422, WEIGHTS, r"layers/payload/vars/0", W),
    (a.h5_mis_shaped_dataset, 422, WEIGHTS, r"\(500000000, 32\)", W),
    (a.h5_truncated, 422, INVALID, r"HDF5|truncated", F),
    (a.safetensors_truncated, 422, INVALID, r"safetensors", F),
    (a.safetensors_header_past_the_end, 422, INVALID, r"safetensors", F),
    (a.safetensors_overlapping_offsets, 422, INVALID, r"safetensors", F),
    (a.non_utf8_json, 422, INVALID, r"not UTF-8", F),
    (a.deeply_nested_json, 422, INVALID, r"nested", F),
    (a.duplicate_json_keys, 422, INVALID, r"'class_name' twice", F),
]  # fmt: skip


@pytest.fixture()
def presets(tmp_path: Path, fixtures: Path) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    keras = Path(shutil.copytree(fixtures / "keras_hub_tiny_gpt2", work / "keras"))
    hf = Path(shutil.copytree(fixtures / "hf_tiny_gpt2", work / "hf"))
    return work, keras, hf


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_at(tmp_path / "server"))) as client:
        yield client


def _state(home: Path) -> tuple[set[str], list[str], list[str]]:
    store = home / "store"
    blobs = {p.name for p in (store / "blobs" / "sha256").glob("*/*")}
    trees = sorted(p.name for p in (store / "trees").iterdir())
    temporary = sorted(p.name for p in (store / "tmp").iterdir())
    return blobs, trees, temporary


@pytest.mark.parametrize(("attack", "status", "code", "message", "_"), CASES,
                         ids=[case[0].__name__ for case in CASES])  # fmt: skip
def test_over_the_api(
    attack: Attack, status: int, code: str, message: str, _: type, server: TestClient,
    presets: tuple[Path, Path, Path], tmp_path: Path,
) -> None:  # fmt: skip
    upload = attack(*presets)
    services = server.app.state.services  # type: ignore[attr-defined]
    services.limits = upload.limits
    headers = {"Authorization": f"Bearer {token(server.app, 'alice')}"}  # type: ignore[arg-type]
    before = _state(tmp_path / "server")
    url = f"/api/v1/presets/alice/{upload.name}/revisions"
    if upload.files is not None:
        response = server.post(url, files=upload.files, headers=headers)
    else:
        headers["Content-Type"] = upload.content_type
        response = server.post(url, content=upload.body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert re.search(message, error["message"]), error
    assert _state(tmp_path / "server") == before  # no blob, tree or temp file
    assert server.get(f"/api/v1/presets/alice/{upload.name}").status_code == 404  # no row
    assert server.get("/api/v1/presets", params={"q": "tiny"}).status_code == 200  # still serving


# Attacks that exist only as multipart requests have no file a Python user could point at.
ON_DISK = [case for case in CASES if "multipart" not in case[0].__name__]


@pytest.mark.parametrize(("attack", "_s", "_c", "message", "exception"), ON_DISK,
                         ids=[case[0].__name__ for case in ON_DISK])  # fmt: skip
def test_in_python(
    attack: Attack, _s: int, _c: str, message: str, exception: type[Exception],
    presets: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    upload = attack(*presets)
    assert upload.path is not None
    for variable, value in (
        ("REGISTRY_MAX_FILE_BYTES", upload.limits.max_file_bytes),
        ("REGISTRY_MAX_UPLOAD_BYTES", upload.limits.max_upload_bytes),
        ("REGISTRY_MAX_FILES", upload.limits.max_files),
    ):
        monkeypatch.setenv(variable, str(value))
    home = tmp_path / "home"
    registry = Registry(cache_dir=home)
    before = _state(home)
    with pytest.raises(exception, match=message):
        registry.upload(upload.path, "alice/evil")
    assert _state(home) == before
    with pytest.raises(RegistryError):
        registry.info("alice/evil")
    if upload.path.is_dir() and exception is not UploadTooLargeError:
        # Loading the folder directly is refused the same way.
        with pytest.raises(exception, match=message):
            GPT2Backbone.from_preset(upload.path)
    registry.close()


@pytest.mark.parametrize(
    ("name", "status"),
    [("a%2Fb", 422), ("..", 422), ("a%00b", 422), ("x" * 300, 422), ("-dash", 422)],
)
def test_hostile_preset_names(server: TestClient, name: str, status: int, fixtures: Path) -> None:
    headers = {"Authorization": f"Bearer {token(server.app, 'alice')}",  # type: ignore[arg-type]
               "Content-Type": "application/gzip"}  # fmt: skip
    response = server.post(f"/api/v1/presets/alice/{name}/revisions", content=b"x", headers=headers)
    assert response.status_code in (status, 404), response.text
    assert "error" in response.json()
    assert server.get("/health").status_code == 200


@pytest.mark.parametrize("name", ["alice/a/b", "alice/..", "alice/a\x00b", "alice/" + "x" * 300])
def test_hostile_names_in_python(name: str, tmp_path: Path, fixtures: Path) -> None:
    registry = Registry(cache_dir=tmp_path / "home")
    with pytest.raises(RegistryError):
        registry.upload(fixtures / "keras_hub_tiny_gpt2", name)
    assert _state(tmp_path / "home")[0] == set()
    registry.close()
