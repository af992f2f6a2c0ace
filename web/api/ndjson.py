"""The Hub's commit body: NDJSON, one operation a line, read as it streams.

A line may carry a whole file, base64-encoded in one JSON string (`{"key":
"file", "value": {"content": "...", "path": ...}}`, the content before the
path), so no line is ever held whole: a small lexer tracks only where JSON
strings begin and end (outside them no `"` can appear), keeps short strings in
the line, and streams a long one through a base64 decoder into a sink as it
comes. The rest of the line, with that string left empty, is parsed by `json`.
Lines are at most `MAX_LINE` bytes without their streamed string, and only a
base64 `content` may be streamed.

```python
body = CommitBody(on_line, open_sink, max_lines=600)
for chunk in request_chunks:
    body.feed(chunk)              # on_line(operation, sink or None) per line
body.close()
```
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from registry.errors import InvalidNameError, UploadTooLargeError

MAX_LINE = 64 << 10
MAX_INLINE_STRING = 16 << 10  # longer strings are streamed
_OUTSIDE = re.compile(rb'["\n]')
_INSIDE = re.compile(rb'["\\]')


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...


class _Base64:
    """Decodes base64 text arriving in pieces of any length into a sink."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._rest = b""

    def write(self, text: bytes) -> None:
        text = self._rest + text
        whole = len(text) - len(text) % 4
        self._rest = text[whole:]
        self._decode(text[:whole])

    def close(self) -> None:
        self._decode(self._rest)

    def _decode(self, text: bytes) -> None:
        if not text:
            return
        try:
            self.sink.write(binascii.a2b_base64(text, strict_mode=True))
        except binascii.Error as error:
            raise InvalidNameError(
                f"A file's content in the commit is not base64 ({error})."
            ) from error


class CommitBody:
    """Splits an NDJSON body into operations (see the module)."""

    def __init__(
        self,
        on_line: Callable[[dict[str, Any], Any], None],
        open_sink: Callable[[], Sink],
        *,
        max_lines: int,
    ) -> None:
        self.on_line = on_line
        self.open_sink = open_sink
        self.max_lines = max_lines
        self.lines = 0
        self._line = bytearray()
        self._in_string = False
        self._escaped = False
        self._string_start = 0
        self._stream: _Base64 | None = None
        self._streamed: Sink | None = None

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            at = self._inside(data, at) if self._in_string else self._outside(data, at)

    def close(self) -> None:
        """The body ended: its last line needs no newline; a string must be closed."""
        if self._in_string:
            raise InvalidNameError("The commit body ends inside a JSON string.")
        self._end_line()

    # === The lexer ===

    def _outside(self, data: bytes, at: int) -> int:
        found = _OUTSIDE.search(data, at)
        end = found.start() if found else len(data)
        self._line += data[at:end]
        if len(self._line) > MAX_LINE:
            raise UploadTooLargeError(
                "the commit body",
                f"has a line over {MAX_LINE} bytes.",
                "Send one operation a line.",
            )
        if found is None:
            return end
        if data[end] == 0x0A:
            self._end_line()
        else:
            self._line += b'"'
            self._in_string, self._string_start = True, len(self._line)
        return end + 1

    def _inside(self, data: bytes, at: int) -> int:
        if self._escaped:  # the byte after a backslash that ended the last chunk
            self._line += data[at : at + 1]
            self._escaped = False
            return at + 1
        found = _INSIDE.search(data, at)
        end = found.start() if found else len(data)
        self._string(data[at:end])
        if found is None:
            return end
        if data[end] == 0x22:  # the closing quote
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            self._line += b'"'
            self._in_string = False
            return end + 1
        if self._stream is not None:
            raise InvalidNameError(
                "A file's content in the commit holds JSON escapes; send base64."
            )
        self._line += data[end : end + 2]
        self._escaped = end + 1 == len(data)
        return end + 2

    def _string(self, piece: bytes) -> None:
        if self._stream is not None:
            self._stream.write(piece)
            return
        self._line += piece
        if len(self._line) - self._string_start <= MAX_INLINE_STRING:
            return
        if self._streamed is not None:
            raise UploadTooLargeError(
                "the commit body", "has two long strings in one line.", "Send one file a line."
            )
        self._streamed = self.open_sink()
        self._stream = _Base64(self._streamed)
        self._stream.write(bytes(self._line[self._string_start :]))
        del self._line[self._string_start :]

    def _end_line(self) -> None:
        line, streamed = bytes(self._line), self._streamed
        self._line.clear()
        self._streamed = None
        if not line.strip():
            return
        self.lines += 1
        if self.lines > self.max_lines:
            raise UploadTooLargeError(
                "the commit", f"has more than {self.max_lines} operations.", "Commit fewer files."
            )
        try:
            operation = json.loads(line)
        except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
            raise InvalidNameError(
                f"Line {self.lines} of the commit is not JSON ({error})."
            ) from error
        if not isinstance(operation, dict):
            raise InvalidNameError(f"Line {self.lines} of the commit is not a JSON object.")
        self.on_line(operation, streamed)
