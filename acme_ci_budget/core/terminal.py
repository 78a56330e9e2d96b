"""What an interactive command does differently on a terminal: line editing, a "thinking" ticker, lines
that fit the window.

Owns three small pieces ``chat`` needs and nothing else should re-invent:

- ``enable_line_editing``: loads the stdlib ``readline`` when stdin is a terminal, so ``input()`` gets
  cursor keys, Ctrl-R and up-arrow history for the session, and reads the line itself in raw mode. That
  also lifts the kernel's canonical-mode line limit (4,095 bytes, after which a pasted line is silently
  cut); ``CANONICAL_LINE_LIMIT`` lets the caller say so when readline is missing.
- ``Thinking``: while a reply is on its way, "thinking... Ns" on the terminal's stderr, rewritten in
  place each second and erased when the reply arrives; nothing at all when stderr is not a terminal, so
  piped output and logs stay clean.
- ``fit``: " | "-joined parts wrapped at part boundaries so no line is wider than the terminal.

It must not know about budgets, the ledger or the model; it writes only to the streams it is given.
History is kept for the session only: chats may hold secrets, so nothing is written to disk.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any

# Linux's N_TTY buffer: in canonical mode a line stops at 4,095 bytes plus the newline.
CANONICAL_LINE_LIMIT = 4095


def enable_line_editing(stdin: Any = None) -> bool:
    """Load ``readline`` for ``input()`` when ``stdin`` is a terminal; True when line editing is on."""
    stream = stdin if stdin is not None else sys.stdin
    if not _isatty(stream):
        return False
    try:
        import readline  # noqa: F401  (importing it is what hooks input())
    except ImportError:  # some builds (Windows, minimal images) have no readline
        return False
    return True


def terminal_width(default: int = 80) -> int:
    """Columns of the terminal (``$COLUMNS`` first, as ``shutil`` reads it), at least 20."""
    return max(20, shutil.get_terminal_size((default, 24)).columns)


def fit(parts: Sequence[str], width: int, sep: str = " | ", brackets: tuple[str, str] = ("[", "]")) -> str:
    """``parts`` joined by ``sep`` inside ``brackets``, wrapped onto more lines (at a part's edge) so none
    is wider than ``width``; a single part wider than the line is cut with an ellipsis."""
    open_, close = brackets
    lines: list[str] = []
    current = ""
    for part in parts:
        piece = part if len(part) <= width - 2 else part[: max(1, width - 3)] + "…"
        candidate = f"{current}{sep}{piece}" if current else piece
        if current and len(open_) + len(candidate) + len(close) > width:
            lines.append(current)
            current = piece
        else:
            current = candidate
    if current or not lines:
        lines.append(current)
    if len(lines) == 1:
        return f"{open_}{lines[0]}{close}"
    return "\n".join([f"{open_}{lines[0]}", *lines[1:-1], f"{lines[-1]}{close}"])


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


class Thinking:
    """``with Thinking(stream):`` shows "thinking... Ns" on a terminal while the block runs, then erases it."""

    def __init__(self, stream: IO[str] | None = None, label: str = "thinking", interval: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.interval = interval
        self.active = _isatty(self.stream)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = 0

    def __enter__(self) -> Thinking:
        if self.active:
            self._started = time.monotonic()
            self._draw()
            self._thread = threading.Thread(target=self._run, name="thinking", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            # Erase the ticker so the reply starts on a clean line.
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def _draw(self) -> None:
        text = f"{self.label}... {time.monotonic() - self._started:.0f}s"
        self.stream.write("\r" + text.ljust(self._shown))
        self.stream.flush()
        self._shown = max(self._shown, len(text))
