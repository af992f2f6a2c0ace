"""One test per attack class, for every architecture of the allow-list: the answer
(a 4xx naming the problem over the API, a specific exception in Python), nothing
written (no blob, row or temp file), and a server that still serves the next
request.

What runs where (ids are `<architecture>-<attack>`):

- `TRANSPORT` (archives, paths, links, bombs, sizes, multipart names): on
  GPT-2's fixture, over the API and in Python. They are about bytes in transit,
  the same whatever the architecture.
- `KERAS` (configs naming code, dunder keys, a huge model, JSON, every
  `model.weights.h5` attack, pickles beside it), `TRANSFORMERS` (configs,
  every `model.safetensors` attack, pickles beside or instead of it) and
  `_spoofs` (one architecture's config over each other architecture's weights,
  Keras and transformers): every one for every architecture, over the API and
  in Python. One server and one registry serve the whole module (each attack
  uploads under a new name), which keeps the cross product fast.

"In Python" is `Registry.upload` and then `Backbone.from_preset` of the same
directory, which must fail with the very exception class the upload did. The
architectures and their fixtures (`tests/reference/keras_hub_tiny_<folder>`,
`hf_tiny_<folder>`) come from `allowlist.specs()`, so a new architecture folder
with its two fixtures is attacked without editing this module.

Resources: an upload reads no tensor at all (only headers); `from_preset` may
read the preset's own datasets, but reading one over 1 GiB, compressed, or stored
in other files, or building a model of over 100M parameters, fails the test at
once (`HugeAllocationError`) instead of exhausting the machine.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import pytest
from fastapi.testclient import TestClient

from registry import Backbone, Registry
from registry.architectures import allowlist
from registry.catalog.service import check_preset_name
from registry.errors import (
    InvalidNameError,
    PresetFormatError,
    RegistryError,
    UnsafePresetError,
    UploadTooLargeError,
    WeightsMismatchError,
)
from registry.preset import convert_hf, loader
from tests.security import attacks
from tests.security.attacks import ARCHITECTURES, Architecture, Attack
from tests.web.live import settings_at, token
from web.app import create_app

a = attacks
U, T, W, F = UnsafePresetError, UploadTooLargeError, WeightsMismatchError, PresetFormatError
UNSAFE, LARGE, WEIGHTS, INVALID = "unsafe_preset", "too_large", "weights_mismatch", "invalid_preset"


class Case(NamedTuple):
    attack: Attack
    status: int  # over the API
    code: str  # the API's error code
    message: str  # a regex both answers match
    exception: type[Exception]  # in Python, exactly this class


# The architecture whose fixture carries the transport attacks.
TRANSPORT_FIXTURE = "gpt2"
TRANSPORT = [
    Case(a.traversal_in_tar, 422, UNSAFE, r"leaves the preset directory", U),
    Case(a.traversal_in_zip, 422, UNSAFE, r"leaves the preset directory", U),
    Case(a.traversal_in_multipart, 422, UNSAFE, r"leaves the preset directory", U),
    Case(a.absolute_path_in_tar, 422, UNSAFE, r"absolute path", U),
    Case(a.absolute_path_in_multipart, 422, UNSAFE, r"absolute path", U),
    Case(a.symlink_in_tar, 422, UNSAFE, r"link, device", U),
    Case(a.hardlink_in_tar, 422, UNSAFE, r"link, device", U),
    Case(a.device_in_tar, 422, UNSAFE, r"link, device", U),
    Case(a.symlink_in_zip, 422, UNSAFE, r"link, device", U),
    Case(a.zip_bomb, 413, LARGE, r"expands past 200 times", T),
    Case(a.tar_bomb, 413, LARGE, r"expands past 200 times", T),
    Case(a.oversize_file, 413, LARGE, r"100000-byte limit per file", T),
    Case(a.oversize_upload, 413, LARGE, r"150000-byte (upload )?limit", T),
    Case(a.too_many_files, 413, LARGE, r"at most 8 files", T),
]  # fmt: skip

# On a copy of the architecture's keras-hub preset.
KERAS = [
    Case(a.config_naming_os, 422, UNSAFE, r"'os>system'.*not an allowed", U),
    Case(a.config_naming_subprocess, 422, UNSAFE, r"module='subprocess'", U),
    Case(a.config_naming_builtins, 422, UNSAFE, r"'builtins>eval'", U),
    Case(a.config_naming_an_unknown_class, 422, UNSAFE, r"'MyBackbone'", U),
    Case(a.lambda_layer, 422, UNSAFE, r"class_name='Lambda'", U),
    Case(a.dunder_key, 422, UNSAFE, r"'__reduce__'", U),
    Case(a.config_declaring_a_huge_model, 422, WEIGHTS, r"implies \(1000000000, ", W),
    Case(a.pickle_beside_h5, 422, UNSAFE, r"model\.pt.*pickle.*safetensors", U),
    Case(a.h5_extra_dataset, 422, WEIGHTS, r"layers/payload/vars/0", W),
    Case(a.h5_missing_dataset, 422, WEIGHTS, r"1 weight\(s\) the config needs are missing", W),
    Case(a.h5_mis_shaped_dataset, 422, WEIGHTS, r"\(500000000, 32\)", W),
    Case(a.h5_non_float_dataset, 422, WEIGHTS, r"holds int32, not floating-point", W),
    Case(a.h5_external_dataset, 422, UNSAFE, r"stores its data in other files", U),
    Case(a.h5_virtual_dataset, 422, UNSAFE, r"stores its data in other files", U),
    Case(a.h5_compressed_dataset, 422, UNSAFE, r"compressed", U),
    Case(a.h5_truncated, 422, INVALID, r"HDF5|truncated", F),
    Case(a.non_utf8_json, 422, INVALID, r"not UTF-8", F),
    Case(a.deeply_nested_json, 422, INVALID, r"nested", F),
    Case(a.duplicate_json_keys, 422, INVALID, r"'class_name' twice", F),
    Case(a.deeply_nested_metadata, 422, INVALID, r"metadata\.json: is nested more than 32", F),
    Case(a.duplicate_keys_in_tokenizer_json, 422, INVALID, r"\.json: sets the key 'twice'", F),
    Case(a.non_utf8_vocabulary, 422, INVALID, r"vocabulary\.json: is not UTF-8", F),
]  # fmt: skip

# On a copy of the architecture's transformers checkpoint.
TRANSFORMERS = [
    Case(a.pickle_beside_safetensors, 422, UNSAFE, r"pickle.*safetensors", U),
    Case(a.pickle_instead_of_safetensors, 422, UNSAFE, r"pickle.*safetensors", U),
    Case(a.hf_config_dunder_key, 422, UNSAFE, r"'__class__'", U),
    Case(a.hf_config_lambda_layer, 422, UNSAFE, r"class_name='Lambda'", U),
    Case(a.hf_config_unknown_model_type, 422, INVALID, r"model_type='evil'", F),
    Case(a.safetensors_truncated, 422, INVALID, r"safetensors", F),
    Case(a.safetensors_header_past_the_end, 422, INVALID, r"safetensors", F),
    Case(a.safetensors_overlapping_offsets, 422, INVALID, r"safetensors.*invalid offset", F),
    Case(a.safetensors_offsets_past_the_end, 422, INVALID, r"safetensors.*invalid offset", F),
    Case(a.safetensors_extra_tensor, 422, WEIGHTS, r"unknown `payload\.weight`", W),
    Case(a.safetensors_missing_tensor, 422, WEIGHTS, r"lacks `[^`]+` \(1 missing", W),
    Case(a.safetensors_mis_shaped_tensor, 422, WEIGHTS, r"has shape .* does not fit", W),
    Case(a.safetensors_non_float_tensor, 422, WEIGHTS, r"holds I32, not floating-point", W),
    Case(a.deeply_nested_hf_tokenizer, 422, INVALID, r"tokenizer\.json: is nested more than 32", F),
]  # fmt: skip


def _spoofs(architecture: Architecture) -> list[Case]:
    """This architecture's configs over every other architecture's weights."""
    others = [other for other in ARCHITECTURES if other != architecture]
    missing = r"the config needs are missing"
    cases = [
        Case(a.keras_config_with_weights_of(other), 422, WEIGHTS, missing, W) for other in others
    ]
    if architecture.hf_fixture is not None:
        # Refused where the tensors' names or shapes contradict the config.
        refused = r"not an? [\w-]+ checkpoint|checkpoint without|declares \w+=\S+, but the weights"
        cases += [
            Case(a.hf_config_with_tensors_of(other), 422, WEIGHTS, refused, W)
            for other in others
            if other.hf_fixture is not None
        ]
    return cases


def _cases(architecture: Architecture) -> list[Case]:
    transformers = TRANSFORMERS if architecture.hf_fixture is not None else []
    return [*KERAS, *transformers, *_spoofs(architecture)]


# Attacks that exist only as multipart requests have no file a Python user could point at.
ON_DISK = [case for case in TRANSPORT if "multipart" not in case.attack.__name__]


class HugeAllocationError(AssertionError):
    """The code under test was about to read hostile storage or build a huge model."""


def _param(architecture: Architecture, case: Case, *, name: str | None = None) -> Any:
    """One test's parameters, named after the architecture and the attack."""
    ident = name or f"{architecture.name}-{case.attack.__name__}"
    return pytest.param(architecture, *case, id=ident)


def _transport_architecture() -> Architecture:
    return next(arch for arch in ARCHITECTURES if arch.name == TRANSPORT_FIXTURE)


def _params(transport: list[Case]) -> list[Any]:
    carrier = _transport_architecture()
    return [
        *(_param(carrier, case, name=case.attack.__name__) for case in transport),
        *(_param(arch, case) for arch in ARCHITECTURES for case in _cases(arch)),
    ]


API_CASES = _params(TRANSPORT)
PYTHON_CASES = _params(ON_DISK)
_names = (f"evil-{index}" for index in itertools.count())


# === Fixtures ===


@dataclass
class Server:
    client: TestClient
    home: Path
    headers: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for every attack of the module: each must leave it serving."""
    home = tmp_path_factory.mktemp("server")
    with TestClient(create_app(settings_at(home))) as client:
        secret = token(client.app, "alice")  # type: ignore[arg-type]
        yield Server(client, home, {"Authorization": f"Bearer {secret}"})


@pytest.fixture(scope="module")
def python_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    home = tmp_path_factory.mktemp("home")
    registry = Registry(cache_dir=home)
    yield registry, home
    registry.close()


@pytest.fixture()
def presets(architecture: Architecture, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Writable copies of the architecture's keras-hub preset and transformers checkpoint."""
    work = tmp_path / "work"
    work.mkdir()
    keras = Path(shutil.copytree(architecture.keras_fixture, work / "keras"))
    hf = work / "hf"
    if architecture.hf_fixture is not None:
        shutil.copytree(architecture.hf_fixture, hf)
    return work, keras, hf


_MAX_DATASET_BYTES = 1 << 30
_MAX_PARAMETERS = 100_000_000


def _hostile_storage(dataset: h5py.Dataset) -> str | None:
    if dataset.nbytes > _MAX_DATASET_BYTES:
        return f"it declares {dataset.nbytes} bytes"
    if dataset.external or dataset.is_virtual:
        return "its data lies in other files"
    if dataset.id.get_create_plist().get_nfilters():
        return "its chunks are compressed"
    return None


@pytest.fixture()
def tensor_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every h5 dataset and safetensors checkpoint read during the test.

    Reading a dataset of hostile storage raises `HugeAllocationError` before HDF5
    allocates or opens anything.
    """
    reads: list[str] = []

    def guarded(read: Callable[..., Any]) -> Callable[..., Any]:
        def read_checked(self: h5py.Dataset, *args: Any, **kwargs: Any) -> Any:
            problem = _hostile_storage(self)
            if problem is not None:
                raise HugeAllocationError(f"read dataset {self.name}, though {problem}")
            reads.append(self.name)
            return read(self, *args, **kwargs)

        return read_checked

    for method in ("__getitem__", "read_direct"):
        monkeypatch.setattr(h5py.Dataset, method, guarded(getattr(h5py.Dataset, method)))
    reader = convert_hf.Checkpoint.reader

    def recorded(self: convert_hf.Checkpoint) -> Any:
        reads.append(str(self.directory))
        return reader(self)

    monkeypatch.setattr(convert_hf.Checkpoint, "reader", recorded)
    return reads


@pytest.fixture()
def small_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """`from_preset` may only build models of under `_MAX_PARAMETERS` parameters."""
    build = loader._build

    def build_checked(cls: type, arguments: dict, overrides: dict, *rest: Any) -> Any:
        spec = allowlist.spec_named(cls.__name__)
        try:
            count = spec.parameter_count({**arguments, **overrides}) if spec else 0
        except (TypeError, ValueError):
            count = 0  # not buildable: `_build` refuses it itself
        if count > _MAX_PARAMETERS:
            raise HugeAllocationError(f"built a {cls.__name__} of {count} parameters")
        return build(cls, arguments, overrides, *rest)

    monkeypatch.setattr(loader, "_build", build_checked)


def _state(home: Path) -> tuple[set[str], list[str], list[str]]:
    store = home / "store"
    blobs = {p.name for p in (store / "blobs" / "sha256").glob("*/*")}
    trees = sorted(p.name for p in (store / "trees").iterdir())
    temporary = sorted(p.name for p in (store / "tmp").iterdir())
    return blobs, trees, temporary


# === Attacks ===


@pytest.mark.parametrize(("architecture", "attack", "status", "code", "message", "_"), API_CASES)
def test_over_the_api(
    architecture: Architecture, attack: Attack, status: int, code: str, message: str, _: type,
    server: Server, presets: tuple[Path, Path, Path], tensor_reads: list[str],
) -> None:  # fmt: skip
    upload = attack(*presets)
    server.client.app.state.services.limits = upload.limits  # type: ignore[attr-defined]
    name = next(_names)
    before = _state(server.home)
    url = f"/api/v1/presets/alice/{name}/revisions"
    if upload.files is not None:
        response = server.client.post(url, files=upload.files, headers=server.headers)
    else:
        headers = {**server.headers, "Content-Type": upload.content_type}
        response = server.client.post(url, content=upload.body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert re.search(message, error["message"]), error
    assert tensor_reads == []  # refused from the headers
    assert _state(server.home) == before  # no blob, tree or temp file
    assert server.client.get(f"/api/v1/presets/alice/{name}").status_code == 404  # no row
    assert server.client.get("/api/v1/presets", params={"q": "tiny"}).status_code == 200


@pytest.mark.usefixtures("small_builds")
@pytest.mark.parametrize(("architecture", "attack", "_s", "_c", "message", "exception"),
                         PYTHON_CASES)  # fmt: skip
def test_in_python(
    architecture: Architecture, attack: Attack, _s: int, _c: str, message: str,
    exception: type[Exception], presets: tuple[Path, Path, Path],
    python_registry: tuple[Registry, Path], tensor_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    upload = attack(*presets)
    assert upload.path is not None
    for variable, value in (
        ("REGISTRY_MAX_FILE_BYTES", upload.limits.max_file_bytes),
        ("REGISTRY_MAX_UPLOAD_BYTES", upload.limits.max_upload_bytes),
        ("REGISTRY_MAX_FILES", upload.limits.max_files),
    ):
        monkeypatch.setenv(variable, str(value))
    registry, home = python_registry
    name = f"alice/{next(_names)}"
    before = _state(home)
    with pytest.raises(exception, match=message) as uploaded:
        registry.upload(upload.path, name)
    assert type(uploaded.value) is exception
    assert tensor_reads == []  # refused from the headers
    assert _state(home) == before
    with pytest.raises(RegistryError):
        registry.info(name)
    if upload.path.is_dir() and exception is not UploadTooLargeError:
        # Loading the folder directly is refused the same way.
        with pytest.raises(exception, match=message) as loaded:
            Backbone.from_preset(upload.path)
        assert type(loaded.value) is exception


def test_every_architecture_has_reference_fixtures() -> None:
    # The attacks above run on these; an architecture without them would go unattacked.
    assert {arch.spec.class_name for arch in ARCHITECTURES} == set(allowlist.specs())
    for arch in ARCHITECTURES:
        assert (arch.keras_fixture / "model.weights.h5").is_file(), arch.keras_fixture
        if arch.hf_fixture is not None:
            assert (arch.hf_fixture / "model.safetensors").is_file(), arch.hf_fixture


# === Names ===


# Each name reaches the upload route as written: "%2E%2E" arrives as "..", which
# a literal ".." would not (the client drops dot segments from the URL).
@pytest.mark.parametrize("name", ["%2E%2E", "a..b", "a%00b", "x" * 300, "-dash"])
def test_hostile_preset_names(server: Server, name: str) -> None:
    headers = {**server.headers, "Content-Type": "application/gzip"}
    before = _state(server.home)
    url = f"/api/v1/presets/alice/{name}/revisions"
    response = server.client.post(url, content=b"x", headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_name"
    assert _state(server.home) == before
    assert server.client.get("/health").status_code == 200


def test_slashed_preset_names_never_reach_the_upload_route(server: Server) -> None:
    # "%2F" is decoded before routing, so "a%2Fb" is two path segments: no route
    # matches. The validator refuses the slash for every other caller.
    headers = {**server.headers, "Content-Type": "application/gzip"}
    before = _state(server.home)
    url = "/api/v1/presets/alice/a%2Fb/revisions"
    response = server.client.post(url, content=b"x", headers=headers)
    assert response.status_code == 404 and _state(server.home) == before
    for name in ("a/b", "../b", "a/.."):
        with pytest.raises(InvalidNameError, match="no '/'"):
            check_preset_name("alice", name)


@pytest.mark.parametrize("name", ["alice/a/b", "alice/..", "alice/a\x00b", "alice/" + "x" * 300])
def test_hostile_names_in_python(name: str, tmp_path: Path, fixtures: Path) -> None:
    registry = Registry(cache_dir=tmp_path / "home")
    with pytest.raises(RegistryError):
        registry.upload(fixtures / "keras_hub_tiny_gpt2", name)
    assert _state(tmp_path / "home")[0] == set()
    registry.close()
