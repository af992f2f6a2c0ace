"""Two revisions compared: which files changed and, inside weights files, which tensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
from fastapi.testclient import TestClient
from safetensors.numpy import load_file, save_file

from tests.conftest import FIXTURES
from tests.web.conftest import multipart_files

NORM = "layers/layer_normalization/vars/0"


def _upload(client: TestClient, headers: dict[str, str], name: str, tree: Path) -> str:
    answer = client.post(
        f"/api/v1/presets/alice/{name}/revisions", files=multipart_files(tree), headers=headers
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["revision"]["digest"])


def test_a_changed_tensor_and_a_new_file(
    client: TestClient, alice: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "gpt2"
    shutil.copytree(FIXTURES / "keras_hub_tiny_gpt2", tree)
    first = _upload(client, alice, "gpt2", tree)
    with h5py.File(tree / "model.weights.h5", "r+") as h5:
        h5[NORM][...] = h5[NORM][()] + 1.0
    (tree / "README.md").write_text("# Tuned\n\nThe final norm moved.\n")
    second = _upload(client, alice, "gpt2", tree)

    answer = client.get("/api/v1/presets/alice/gpt2/compare")  # latest against the one before
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["base"], found["head"]) == (first, second)
    changes = {f["path"]: (f["before"] is None, f["after"] is None) for f in found["files"]}
    assert changes == {"README.md": (True, False), "model.weights.h5": (False, False)}
    (weights,) = found["weights"]
    assert [c["name"] for c in weights["changed"]] == [NORM]
    assert weights["changed"][0]["what"] == "values"
    with h5py.File(tree / "model.weights.h5", "r") as h5:
        assert (
            weights["unchanged"] == sum(1 for _ in _datasets(h5)) - 1
        )  # every other tensor compares equal
    assert not weights["added"] and not weights["removed"]

    page = client.get("/presets/alice/gpt2/compare", params={"base": first[:12]})
    assert page.status_code == 200
    assert NORM in page.text and "1 changed, 0 added, 0 removed" in page.text
    assert f"compare?base={first}&amp;head={second}" in client.get("/presets/alice/gpt2").text


def _datasets(h5: h5py.File) -> list[str]:
    found: list[str] = []
    h5.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_safetensors_tensors_compare_by_their_bytes(
    client: TestClient, alice: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "hf"
    shutil.copytree(FIXTURES / "hf_tiny_gpt2", tree)
    first = _upload(client, alice, "hf", tree)
    tensors = load_file(tree / "model.safetensors")
    key = next(k for k in sorted(tensors) if k.endswith("ln_f.weight"))
    tensors[key] = (tensors[key] * np.float32(2)).astype(tensors[key].dtype)
    save_file(tensors, tree / "model.safetensors", metadata={"format": "pt"})
    second = _upload(client, alice, "hf", tree)

    found = client.get(
        "/api/v1/presets/alice/hf/compare", params={"base": first, "head": second}
    ).json()
    (weights,) = found["weights"]
    assert [(c["name"], c["what"]) for c in weights["changed"]] == [(key, "values")]
    assert weights["unchanged"] == len(tensors) - 1
    same = client.get("/api/v1/presets/alice/hf/compare", params={"base": second, "head": second})
    assert same.json()["files"] == [] and same.json()["weights"] == []


def test_a_first_revision_has_nothing_to_compare_with(
    client: TestClient, alice: dict[str, str]
) -> None:
    _upload(client, alice, "one", FIXTURES / "keras_hub_tiny_gpt2")
    answer = client.get("/api/v1/presets/alice/one/compare")
    assert answer.status_code == 404
    assert "first revision" in answer.json()["error"]["message"]
    absent = client.get("/api/v1/presets/alice/one/compare", params={"base": "ffffffff"})
    assert absent.status_code == 404
