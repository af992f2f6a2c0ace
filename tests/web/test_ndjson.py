"""The commit body's reader: any chunking, long base64 strings streamed, limits."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from registry.errors import InvalidNameError, UploadTooLargeError
from web.api.ndjson import MAX_INLINE_STRING, MAX_LINE, CommitBody

BIG = bytes(range(256)) * 400  # 102,400 bytes: streamed
LINES = [
    {"key": "header", "value": {"summary": 'say "hi" \\ \u00e9', "description": ""}},
    {"key": "file", "value": {"content": base64.b64encode(BIG).decode(), "path": "big.json"}},
    {"key": "file", "value": {"content": base64.b64encode(b"small").decode(), "path": "s.txt"}},
    {"key": "deletedFolder", "value": {"path": "docs"}},
]


class Sink(io.BytesIO):
    pass


def _read(data: bytes, step: int, max_lines: int = 10) -> list[tuple[dict[str, Any], Any]]:
    lines: list[tuple[dict[str, Any], Any]] = []
    body = CommitBody(lambda line, sink: lines.append((line, sink)), Sink, max_lines=max_lines)
    for at in range(0, len(data), step):
        body.feed(data[at : at + step])
    body.close()
    return lines


def _body(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.mark.parametrize("step", [3, 7, 4096, 1 << 20])
def test_any_chunking_gives_the_same_operations(step: int) -> None:
    lines = _read(_body(LINES).rstrip(b"\n"), step)  # the last line needs no newline
    assert (
        [line for line, _ in lines]
        == [
            LINES[0],
            {"key": "file", "value": {"content": "", "path": "big.json"}},  # streamed
            *LINES[2:],
        ]
    )
    assert lines[1][1].getvalue() == BIG
    assert [sink for _, sink in lines][2:] == [None, None]


def test_escapes_split_anywhere() -> None:
    small = [LINES[0], LINES[2]]
    assert [line for line, _ in _read(_body(small), 1)] == small


def test_limits_and_malformed_bodies() -> None:
    with pytest.raises(UploadTooLargeError, match="operations"):
        _read(b'{"key": "header", "value": {}}\n' * 3, 4096, max_lines=2)
    with pytest.raises(UploadTooLargeError, match="line over"):
        _read(b"[" + b"1," * MAX_LINE + b"1]", 4096)
    with pytest.raises(InvalidNameError, match="not base64"):
        _read(
            json.dumps(
                {"key": "file", "value": {"content": "!" * (2 * MAX_INLINE_STRING)}}
            ).encode(),
            4096,
        )
    streamed = b"A" * (MAX_INLINE_STRING + 4)
    with pytest.raises(InvalidNameError, match="escapes"):  # JSON allows \/, base64 has no need
        _read(b'{"key": "file", "value": {"content": "' + streamed + b'\\/"}}', 4096)
    with pytest.raises(InvalidNameError, match="inside a JSON string"):
        _read(b'{"key": "hea', 4096)
    with pytest.raises(InvalidNameError, match="not JSON"):
        _read(b"{nope}\n", 4096)
