"""The "Try it" box: generation in worker processes, streamed as server-sent events.

The server process never imports Keras; its workers do. Tests drive a live
server (uvicorn on a port) with httpx, as a browser's script would, and the
plain form as a browser without JavaScript does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry.config import TryLimits
from tests.conftest import FIXTURES, REPO
from tests.web.conftest import multipart_files
from tests.web.live import LiveServer, live_server, settings_at

DEMO = "/api/v1/presets/keras/gpt2_tiny_demo/generate"
SSE = {"Accept": "text/event-stream"}


def _events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    """(event, data) of a server-sent event stream, as they arrive."""
    kind, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield kind, json.loads("\n".join(data))
            kind, data = "message", []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("tryit")
    limits = TryLimits(
        workers=1, models_per_worker=2, queue=0, max_new_tokens=48, rate_per_minute=50
    )
    with live_server(dataclasses.replace(settings_at(home), try_limits=limits)) as live:
        yield live


def _generate(server: LiveServer, **fields: object) -> httpx.Response:
    body = {"prompt": "the cat", "max_new_tokens": 8, **fields}
    return httpx.post(server.url + DEMO, json=body, timeout=300)


def _when_idle(server: LiveServer) -> None:
    """Wait until the only worker is free (the test server queues nothing)."""
    pool = server.app.state.services.generation
    deadline = time.monotonic() + 60
    while not pool.idle() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_tokens_stream_as_they_are_generated_and_match_the_library(server: LiveServer) -> None:
    seen: list[tuple[str, dict]] = []
    with httpx.stream(
        "POST", server.url + DEMO, json={"prompt": "the cat", "max_new_tokens": 12},
        headers=SSE, timeout=300,
    ) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = list(_events(response))
    kinds = [kind for kind, _ in seen]
    assert kinds[-1] == "done" and "text" in kinds, seen
    done = seen[-1][1]
    assert done["tokens"] >= 1 and done["reason"] in ("length", "end")
    streamed = "".join(data["text"] for kind, data in seen if kind == "text")
    # The JSON answer is the same greedy continuation, from the model the worker keeps.
    whole = _generate(server, max_new_tokens=12).json()
    assert whole["text"] == streamed and whole["tokens"] == done["tokens"]
    # ... which is what the library itself generates.
    expected = _library_continuation("the cat", 12)
    assert streamed == expected


def _library_continuation(prompt: str, new_tokens: int) -> str:
    script = textwrap.dedent(f"""
        from registry.architectures.causal_lm import CausalLM
        from registry.preset.demo import demo_preset_dir
        model = CausalLM.from_preset(demo_preset_dir())
        print("".join(model.stream({prompt!r}, max_new_tokens={new_tokens})), end="")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO,
        timeout=300,
    )  # fmt: skip
    return done.stdout


def test_limits_are_enforced_before_any_work(server: LiveServer) -> None:
    long = _generate(server, prompt="x" * 3000)
    assert long.status_code == 422 and "characters" in long.json()["error"]["message"]
    many = _generate(server, max_new_tokens=49)
    assert many.status_code == 422 and "max_new_tokens" in many.json()["error"]["message"]
    empty = _generate(server, prompt="   ")
    assert empty.status_code == 422
    sampler = _generate(server, sampler="beam")
    assert sampler.status_code == 422
    # Past the model's 64 positions: the worker says so, and it is the request's fault.
    positions = _generate(server, prompt="the cat sat " * 20, max_new_tokens=8)
    assert positions.status_code == 422, positions.text
    assert "positions" in positions.json()["error"]["message"]
    absent = httpx.post(
        server.url + "/api/v1/presets/keras/absent/generate", json={"prompt": "a"}, timeout=30
    )
    assert absent.status_code == 404


def test_presets_that_cannot_generate_say_why(server: LiveServer) -> None:
    alice = {"Authorization": f"Bearer {server.token('alice')}"}
    for name, fixture in (("bert", "keras_hub_tiny_bert"), ("untokenized", "keras_hub_tiny_llama")):
        uploaded = httpx.post(
            f"{server.url}/api/v1/presets/alice/{name}/revisions",
            files=multipart_files(FIXTURES / fixture), headers=alice, timeout=60,
        )  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
    bert = httpx.post(
        server.url + "/api/v1/presets/alice/bert/generate", json={"prompt": "a"}, timeout=30
    )
    assert bert.status_code == 422 and "does not generate text" in bert.json()["error"]["message"]
    llama = httpx.post(
        server.url + "/api/v1/presets/alice/untokenized/generate", json={"prompt": "a"}, timeout=30
    )
    assert llama.status_code == 422 and "no tokenizer" in llama.json()["error"]["message"]


def test_a_sentencepiece_tokenizer_uploads_and_offers_the_box(
    server: LiveServer, tmp_path: Path
) -> None:
    tree = tmp_path / "gemma"
    shutil.copytree(FIXTURES / "keras_hub_tiny_gemma", tree)
    tokenizer = FIXTURES / "keras_hub_gemma_tokenizer"
    shutil.copy(tokenizer / "tokenizer.json", tree)
    shutil.copytree(tokenizer / "assets", tree / "assets")  # assets/tokenizer/vocabulary.spm
    alice = {"Authorization": f"Bearer {server.token('alice')}"}
    uploaded = httpx.post(
        f"{server.url}/api/v1/presets/alice/gemma/revisions",
        files=multipart_files(tree), headers=alice, timeout=60,
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    page = httpx.get(f"{server.url}/presets/alice/gemma", timeout=60).text
    assert "assets/tokenizer/vocabulary.spm" in page and 'id="try-form"' in page
    assert "weights are random" not in page


def test_private_presets_are_tried_by_their_owner_only(server: LiveServer) -> None:
    alice = {"Authorization": f"Bearer {server.token('alice')}"}
    bob = {"Authorization": f"Bearer {server.token('bob', 'read')}"}
    demo = Path(__import__("registry.preset.demo", fromlist=["x"]).demo_preset_dir())
    uploaded = httpx.post(
        f"{server.url}/api/v1/presets/alice/secret/revisions", params={"private": "true"},
        files=multipart_files(demo), headers=alice, timeout=60,
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    url = server.url + "/api/v1/presets/alice/secret/generate"
    body = {"prompt": "a b", "max_new_tokens": 2}
    assert httpx.post(url, json=body, headers=bob, timeout=30).status_code == 404
    assert httpx.post(url, json=body, timeout=30).status_code == 404
    mine = httpx.post(url, json=body, headers=alice, timeout=300)
    assert mine.status_code == 200 and mine.json()["tokens"] == 2


def test_a_full_queue_answers_429_and_a_killed_worker_is_replaced(server: LiveServer) -> None:
    pool = server.app.state.services.generation
    _generate(server, max_new_tokens=1)  # the worker is up and holds the demo
    (first_pid,) = pool.pids()
    # Another model to load keeps the only worker busy long enough to be seen busy.
    alice = {"Authorization": f"Bearer {server.token('alice')}"}
    uploaded = httpx.post(
        f"{server.url}/api/v1/presets/alice/copy/revisions",
        files=multipart_files(FIXTURES / "keras_hub_tiny_gpt2"), headers=alice, timeout=60,
    )  # fmt: skip
    assert uploaded.status_code == 201
    url = server.url + "/api/v1/presets/alice/copy/generate"
    events: list[tuple[str, dict]] = []
    loading = threading.Event()

    def first() -> None:
        with httpx.stream(
            "POST", url, json={"prompt": "airplane", "max_new_tokens": 40}, headers=SSE, timeout=300
        ) as response:
            for event in _events(response):
                events.append(event)
                if event[0] == "loading":
                    loading.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert loading.wait(120), events
    busy = _generate(server)
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
    os.kill(first_pid, signal.SIGKILL)  # while it loads the model
    thread.join(120)
    assert events[-1][0] == "error" and "stopped" in events[-1][1]["message"], events
    # A new worker takes the next request.
    again = _generate(server, max_new_tokens=3)
    assert again.status_code == 200, again.text
    assert pool.pids() and pool.pids() != [first_pid]


def test_a_request_waiting_when_the_worker_dies_is_served_by_its_replacement(
    tmp_path: Path,
) -> None:
    limits = TryLimits(workers=1, queue=1, max_new_tokens=8, rate_per_minute=100)
    with live_server(dataclasses.replace(settings_at(tmp_path), try_limits=limits)) as live:
        pool = live.app.state.services.generation
        streams: dict[str, list[tuple[str, dict]]] = {"first": [], "waiting": []}
        seen = {name: threading.Event() for name in ("loading", "queued")}

        def ask(name: str) -> None:
            with httpx.stream(
                "POST", live.url + DEMO, json={"prompt": "a", "max_new_tokens": 4},
                headers=SSE, timeout=300,
            ) as response:  # fmt: skip
                for event in _events(response):
                    streams[name].append(event)
                    if event[0] in seen:
                        seen[event[0]].set()

        first = threading.Thread(target=ask, args=("first",))
        first.start()
        assert seen["loading"].wait(120), streams  # the worker started and loads the demo
        waiting = threading.Thread(target=ask, args=("waiting",))
        waiting.start()
        assert seen["queued"].wait(60), streams
        os.kill(pool.pids()[0], signal.SIGKILL)
        first.join(120)
        waiting.join(300)
        assert streams["first"][-1][0] == "error", streams
        assert streams["waiting"][-1][0] == "done", streams  # the replacement took it
        assert len(pool.pids()) == 1


def test_a_client_that_leaves_cancels_its_request(server: LiveServer) -> None:
    pool = server.app.state.services.generation
    _generate(server, max_new_tokens=1)
    pids = pool.pids()
    with httpx.stream(
        "POST", server.url + DEMO, json={"prompt": "a", "max_new_tokens": 48}, headers=SSE,
        timeout=300,
    ) as response:  # fmt: skip
        for kind, _ in _events(response):
            if kind == "text":
                break  # the stop button: the connection closes
    _when_idle(server)  # it stops between two tokens
    answer = _generate(server, max_new_tokens=2)  # the same worker answers next
    assert answer.status_code == 200 and answer.json()["tokens"] == 2, answer.text
    assert pool.pids() == pids


def test_the_form_works_without_javascript(server: LiveServer) -> None:
    _when_idle(server)
    with httpx.Client(base_url=server.url, timeout=300) as browser:
        page = browser.get("/presets/keras/gpt2_tiny_demo")
        assert 'id="try-form"' in page.text and "weights are random" in page.text
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = browser.post(
            "/presets/keras/gpt2_tiny_demo/try",
            data={"prompt": "the cat", "max_new_tokens": "5", "sampler": "top_k",
                  "temperature": "0.8", "seed": "3", "csrf_token": csrf},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert 'id="try-text"' in answer.text and "(length)" in answer.text
        again = browser.post(
            "/presets/keras/gpt2_tiny_demo/try",
            data={"prompt": "the cat", "max_new_tokens": "5", "sampler": "top_k",
                  "temperature": "0.8", "seed": "3", "csrf_token": csrf},
        )  # fmt: skip
        text = answer.text.split('id="try-text">', 1)[1].split("</span>", 1)[0]
        assert text and text == again.text.split('id="try-text">', 1)[1].split("</span>", 1)[0]
        forged = browser.post("/presets/keras/gpt2_tiny_demo/try", data={"prompt": "a"})
        assert forged.status_code == 403


def test_rate_limit_per_client(tmp_path: Path) -> None:
    limits = TryLimits(workers=1, rate_per_minute=2, max_new_tokens=4)
    with live_server(dataclasses.replace(settings_at(tmp_path), try_limits=limits)) as live:
        answers = [httpx.post(live.url + DEMO, json={"prompt": ""}, timeout=30) for _ in range(3)]
        # Refused requests count too: the third is over the rate before it is looked at.
        assert [a.status_code for a in answers] == [422, 422, 429]
        assert "2 a minute" in answers[2].json()["error"]["message"]
        assert int(answers[2].headers["retry-after"]) >= 1


def test_a_request_stops_at_its_time_limit(tmp_path: Path) -> None:
    # Loading the model alone takes longer than this: the worker stops after the
    # first token (its deadline is checked between tokens) and says why.
    limits = TryLimits(workers=1, timeout_s=0.05, max_new_tokens=32)
    with live_server(dataclasses.replace(settings_at(tmp_path), try_limits=limits)) as live:
        answer = httpx.post(
            live.url + DEMO, json={"prompt": "the cat", "max_new_tokens": 32}, timeout=300
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["reason"] == "time" and answer.json()["tokens"] == 1


def test_the_server_process_never_imports_keras(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from fastapi.testclient import TestClient
        from registry.config import Settings, sqlite_url
        from pathlib import Path
        from web.app import create_app
        home = Path({str(tmp_path)!r})
        with TestClient(create_app(Settings(home=home, db_url=sqlite_url(home / "c.db")))) as c:
            page = c.get("/presets/keras/gpt2_tiny_demo")
            assert page.status_code == 200 and 'id="try-form"' in page.text, page.text[:500]
            assert c.post("{DEMO}", json={{"prompt": ""}}).status_code == 422
        heavy = sorted(m for m in ("keras", "tensorflow", "torch", "jax") if m in sys.modules)
        print(",".join(heavy))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == ""
