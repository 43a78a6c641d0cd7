"""The Pipes message reader of local launches: tails the message file, and survives what it finds there.

Dagster's `PipesTempFileMessageReader` parses whatever `readline()` returns. Tailing a file that the stage
process is still writing, that can be the first half of a line (a long message written in two parts); the
JSON error ends its reader thread, and every later message of the run (results, the stage's failure) is
lost, so a good run was reported FAILED. This reader keeps a partial line until its newline arrives, and
skips a line that is not a JSON object (a torn tail after a crash, a stray print to the file), saying so
in the run's log, then goes on reading.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Event, Thread
from typing import Any

import dagster as dg
from dagster_pipes import PipesDefaultMessageWriter

#: How long the reader sleeps when the file has nothing new.
POLL_S = 0.05
#: How much of a skipped line the warning quotes.
QUOTED_CHARS = 200


def complete_lines(buffer: str, chunk: str) -> tuple[list[str], str]:
    """The whole lines of `buffer + chunk`, and the partial line left to wait for its newline."""
    *lines, rest = (buffer + chunk).split("\n")
    return lines, rest


class TolerantFileMessageReader(dg.PipesMessageReader):
    """Reads Pipes messages from a temporary file, line by line as they are completed."""

    def __init__(self, warn: Callable[[str], None], include_stdio_in_messages: bool = False):
        self.warn = warn
        self.include_stdio_in_messages = include_stdio_in_messages
        self.skipped = 0

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict[str, Any]]:
        closed = Event()
        with tempfile.TemporaryDirectory(prefix="gs-pipes-") as tmp:
            path = Path(tmp) / "messages"
            path.touch()
            thread = Thread(target=self._read, args=(path, handler, closed), daemon=True)
            thread.start()
            try:
                yield {
                    PipesDefaultMessageWriter.FILE_PATH_KEY: str(path),
                    PipesDefaultMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: self.include_stdio_in_messages,
                }
            finally:
                closed.set()
                thread.join()

    def _read(self, path: Path, handler: Any, closed: Event) -> None:
        buffer = ""
        with open(path, encoding="utf-8", errors="replace") as stream:
            while True:
                chunk = stream.read()
                if chunk:
                    lines, buffer = complete_lines(buffer, chunk)
                    for line in lines:
                        self._handle(line, handler)
                elif closed.is_set():
                    break
                else:
                    time.sleep(POLL_S)
        if buffer.strip():  # the writer ended mid-line (killed): what it left is not a message
            self._skip(buffer, "a line cut off when the stage process ended")

    def _handle(self, line: str, handler: Any) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except json.JSONDecodeError as exc:
            self._skip(line, f"not JSON ({exc.msg})")
            return
        if not isinstance(message, dict):
            self._skip(line, "not a Pipes message")
            return
        try:
            handler.handle_message(message)
        except Exception as exc:  # a message Dagster cannot take must not stop the ones after it
            self._skip(line, f"refused by Dagster ({type(exc).__name__}: {exc})")

    def _skip(self, line: str, why: str) -> None:
        self.skipped += 1
        quoted = line[:QUOTED_CHARS] + ("..." if len(line) > QUOTED_CHARS else "")
        self.warn(f"[pipes] skipped a message line from the stage process, {why}: {quoted!r}")

    def no_messages_debug_text(self) -> str:
        return "Attempted to read messages from a temporary file the stage process writes (gs-dagster)."
