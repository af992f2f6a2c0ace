"""HTML pages: catalog, preset, upload with a token, login with CSRF. No JavaScript."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from registry.architectures import allowlist
from tests.conftest import FIXTURES
from tests.web.conftest import multipart_files, tar_of
from tests.web.live import token
from web.auth import CSRF_COOKIE

HTML = {"Accept": "text/html"}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form has no CSRF field"
    return found.group(1)


def _login(client: TestClient, owner: str = "alice", scope: str = "write") -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"token": token(client.app, owner, scope), "csrf_token": _csrf(page.text),  # type: ignore[arg-type]
              "next": "/upload"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/upload"


def test_catalog_lists_presets_with_readable_sizes(client: TestClient) -> None:
    page = client.get("/", headers=HTML, params={"architecture": "GPT2Backbone"})
    assert page.status_code == 200
    assert "gpt2_tiny_demo" in page.text and "124.4M" in page.text and "78.1K" in page.text
    for name, spec in allowlist.specs().items():  # the filter offers every architecture
        assert f'<option value="{name}"' in page.text and spec.family in page.text
    assert "synced" in page.text and "not synced" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    found = client.get("/", params={"q": "medium"})
    assert "gpt2_medium_en" in found.text and "gpt2_tiny_demo" not in found.text
    filtered = client.get(
        "/", params={"size": "large", "sort": "parameters", "architecture": "GPT2Backbone"}
    )
    assert filtered.text.index("gpt2_extra_large_en") < filtered.text.index("gpt2_large_en")
    synced = client.get("/", params={"synced": "1"})
    assert "gpt2_tiny_demo" in synced.text and "gpt2_base_en" not in synced.text
    nothing = client.get("/", params={"q": "zzzz-nothing"})
    assert "No preset matches" in nothing.text


def test_preset_page(client: TestClient) -> None:
    page = client.get("/presets/keras/gpt2_tiny_demo")
    assert page.status_code == 200
    text = page.text
    assert '<h2 id="card-h">Model card</h2>' in text and "<table>" in text  # rendered Markdown
    assert "vocabulary_size" in text and "384" in text  # the architecture table
    assert "model.weights.h5" in text and "Registry(" in text and "HF_ENDPOINT" in text
    assert "from_preset(&#34;hf://keras/gpt2_tiny_demo&#34;)" in text
    assert "78.1K parameters" in text
    # Where the parameters are: an SVG drawn by the server, every category, adding up.
    chart = text[text.index('<section aria-labelledby="params-h">') :]
    chart = chart[: chart.index("</section>")]
    assert "<svg" in chart and "<script" not in chart
    parameters = client.get("/api/v1/presets/keras/gpt2_tiny_demo").json()["parameter_count"]
    assert f'<h2 id="params-h">Parameters <small>{parameters:,}</small></h2>' in chart
    for label in ("Embeddings", "Attention", "Feed-forward", "Norms"):
        assert label in chart
    assert "Blocks 0-1, each" in chart and 'class="cat-attention"' in chart
    missing = client.get("/presets/keras/absent", headers=HTML)
    assert missing.status_code == 404 and "Not found" in missing.text
    unsynced = client.get("/presets/keras/gpt2_base_en")
    assert unsynced.status_code == 200 and "registry sync keras/gpt2_base_en" in unsynced.text


@pytest.mark.parametrize(
    ("fixture", "cls", "argument"),
    [
        ("hf_tiny_bert", "BertBackbone", ("num_segments", "2")),  # derived from the checkpoint
        ("keras_hub_tiny_llama", "LlamaBackbone", ("num_key_value_heads", "2")),
        ("hf_tiny_gemma", "GemmaBackbone", ("head_dim", "8")),
    ],
)
def test_preset_pages_follow_the_architecture(
    client: TestClient, alice: dict[str, str], fixture: str, cls: str, argument: tuple[str, str]
) -> None:
    uploaded = client.post(
        f"/api/v1/presets/alice/{fixture}/revisions",
        files=multipart_files(FIXTURES / fixture),
        headers=alice,
    )
    assert uploaded.status_code == 201, uploaded.text
    text = html.unescape(client.get(f"/presets/alice/{fixture}").text)
    assert f"from registry import {cls}" in text
    assert f'{cls}.from_preset("hf://alice/{fixture}")' in text
    assert f"# inputs: {', '.join(allowlist.specs()[cls].inputs)}" in text
    name, value = argument
    assert re.search(rf'<th scope="row">{name}</th><td>{value}</td>', text), text
    listed = client.get("/", params={"architecture": cls, "namespace": "alice"}).text
    assert fixture in listed


def test_model_cards_are_rendered_safely(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path
) -> None:
    (keras_hub_preset / "README.md").write_text(
        "# Card\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1))\n"
    )
    client.post(
        "/api/v1/presets/alice/carded/revisions",
        content=tar_of(keras_hub_preset),
        headers={**alice, "Content-Type": "application/gzip"},
    )
    text = client.get("/presets/alice/carded").text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert 'href="javascript:' not in text


def test_upload_through_the_form(client: TestClient, keras_hub_preset: Path) -> None:
    assert "Sign in with a token" in client.get("/upload").text
    _login(client)
    form = client.get("/upload")
    assert "Preset name" in form.text
    response = client.post(
        "/upload",
        data={"csrf_token": _csrf(form.text), "name": "webbed", "description": "From the form",
              "tags": "gpt2, web"},
        files=multipart_files(keras_hub_preset, prefix="keras_hub/"),
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/presets/alice/webbed"
    page = client.get("/presets/alice/webbed")
    assert "From the form" in page.text and "28.3K parameters" in page.text
    assert "alice/webbed" in client.get("/", params={"tag": "web"}).text


def test_forms_need_their_csrf_token(client: TestClient, keras_hub_preset: Path) -> None:
    _login(client)
    response = client.post(
        "/upload",
        data={"csrf_token": "forged", "name": "forged"},
        files=multipart_files(keras_hub_preset),
    )
    assert response.status_code == 403 and "CSRF" in response.text
    assert client.get("/api/v1/presets/alice/forged").status_code == 404
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403


def test_a_bad_upload_shows_the_form_again_with_the_reason(
    client: TestClient, keras_hub_preset: Path
) -> None:
    _login(client)
    (keras_hub_preset / "pytorch_model.bin").write_bytes(b"\x80\x04.")
    form = client.get("/upload")
    response = client.post(
        "/upload",
        data={"csrf_token": _csrf(form.text), "name": "pickled"},
        files=multipart_files(keras_hub_preset),
    )
    assert response.status_code == 422
    assert "pickle" in response.text and "Preset name" in response.text


def test_login_refuses_unknown_tokens_and_logout_forgets(client: TestClient) -> None:
    page = client.get("/login")
    refused = client.post("/login", data={"token": "kpr_nope", "csrf_token": _csrf(page.text)})
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    _login(client)
    assert "Sign out alice" in client.get("/").text
    logout = client.post("/logout", data={"csrf_token": _csrf(client.get("/").text)},
                         follow_redirects=False)  # fmt: skip
    assert logout.status_code == 303
    assert "Sign in" in client.get("/").text


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "//evil.example/%2F..",
        "/\t/evil.example",  # browsers drop tabs: "//evil.example"
        "\\\\evil.example",
    ],
)
def test_login_never_redirects_off_site(client: TestClient, target: str) -> None:
    page = client.get("/login", params={"next": target})
    echoed = re.search(r'name="next" value="([^"]*)"', page.text)
    assert echoed, "the login form has no next field"
    # What the form sends back, and what a forged form sends.
    for next_ in (html.unescape(echoed.group(1)), target):
        response = client.post(
            "/login",
            data={"token": token(client.app, "alice"), "csrf_token": _csrf(page.text),  # type: ignore[arg-type]
                  "next": next_},
            follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 303
        location = response.headers["location"]
        # On-site: one slash, then a path (a browser reads "/\\" as "//").
        assert re.match(r"/(?![/\\])", location), location
        assert urlsplit(location)[:2] == ("", ""), location


def test_anonymous_catalog_pages_are_cached_for_browsers_too(client: TestClient) -> None:
    cache = client.app.state.services.cache  # type: ignore[attr-defined]
    first = client.get("/?q=gpt2")
    assert CSRF_COOKIE in first.cookies  # the browser now sends its CSRF cookie
    assert cache.lookup(("catalog-page", "q=gpt2"))[0] is not None
    second = client.get("/?q=gpt2")
    assert second.text == first.text and CSRF_COOKIE not in second.cookies
    client.get("/?q=medium")  # asked with the cookie: cached all the same
    assert cache.lookup(("catalog-page", "q=medium"))[0] is not None
    client.cookies.clear()
    third = client.get("/?q=gpt2")  # from the cache, and still given a cookie
    assert third.text == first.text and CSRF_COOKIE in third.cookies
    _login(client)
    signed_in = client.get("/?q=gpt2")
    assert "Sign out alice" in signed_in.text and "Sign out" not in first.text
