"""core/terminal.py: the gauge wraps at part edges to the width; the ticker writes only to a terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import time

from acme_ci_budget.core.terminal import Thinking, fit


def test_fit_keeps_one_line_when_it_fits_and_wraps_at_part_edges_otherwise():
    parts = ["turn 1/30", "session 120/60,000 tok", "today $0.01 of $12.00 (0.1%)", "claude-haiku-5-5 (default)"]
    assert fit(parts, 200) == "[" + " | ".join(parts) + "]"
    wrapped = fit(parts, 40).splitlines()
    assert all(len(line) <= 40 for line in wrapped) and len(wrapped) == 3
    assert wrapped[0] == "[turn 1/30 | session 120/60,000 tok" and wrapped[-1] == "claude-haiku-5-5 (default)]"
    assert len(fit(["x" * 100], 30)) <= 30  # a part wider than the line is cut, never overflowing


def test_thinking_writes_nothing_to_a_pipe():
    stream = io.StringIO()
    with Thinking(stream):
        time.sleep(0.05)
    assert stream.getvalue() == ""


def test_thinking_ticks_on_a_terminal_and_erases_itself():
    master, slave = pty.openpty()
    erase = "\r" + " " * len("thinking... 1s") + "\r"
    with os.fdopen(slave, "w") as tty:
        with Thinking(tty, interval=0.2):
            time.sleep(1.1)
        out = ""
        # A pty hands the bytes over in chunks: read until the erase arrives (or nothing more comes).
        while not out.endswith(erase) and select.select([master], [], [], 2)[0]:
            out += os.read(master, 4096).decode()
    os.close(master)
    assert out.startswith("\rthinking... 0s") and "thinking... 1s" in out
    assert out.endswith(erase)
