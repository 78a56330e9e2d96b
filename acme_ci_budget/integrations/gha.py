"""GitHub Actions runtime I/O: step outputs, job summary, annotations, masking, command fencing.

Owns the text protocol between this process and the Actions runner: the
``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` environment files and the
``::command::`` lines the runner reads from stdout. Plain functions, standard
library only. It must not talk to the network, import PyGithub, or decide
anything about budgets; callers pass in what to say.

Outside Actions the functions degrade instead of failing:

* ``set_output`` / ``set_outputs`` / ``append_summary`` are no-ops returning
  ``False`` when their environment file is not set (a local run has no step to
  hand outputs to).
* ``notice`` / ``warning`` / ``error`` print a plain ``warning: ...`` line to
  stderr instead of a workflow command.
* ``add_mask`` does nothing: echoing a secret to a terminal to "mask" it would
  only leak it.
* ``stop_commands`` prints the text as is: there is no runner to fence it from.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

# The one Redis URL parser (``redact``) decides what is a password; this module only masks it.
from acme_ci_budget.core.redact import redact_url, url_passwords

# The runner rejects a step summary above 1 MiB; keep within it rather than lose all of it.
SUMMARY_LIMIT_BYTES = 1024 * 1024
SUMMARY_TRUNCATED_NOTE = "\n\n_(summary truncated: GitHub's 1 MiB step summary limit)_\n"

_DELIMITER_PREFIX = "ghadelimiter_"
_MAX_TOKEN_TRIES = 16


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    """True when running inside a GitHub Actions job."""
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS") == "true"


# -- escaping ---------------------------------------------------------------


def escape_data(value: Any) -> str:
    """Escape a workflow command's message so it cannot start a new line (a new command)."""
    return str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: Any) -> str:
    """Escape a workflow command property value; ':' and ',' would end the property early."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_command(command: str, properties: Mapping[str, Any] | None = None, message: Any = "") -> str:
    """One workflow command line, e.g. ``::warning title=Budget::80% used``.

    Properties whose value is None are left out.
    """
    props = ",".join(
        f"{key}={escape_property(value)}" for key, value in (properties or {}).items() if value is not None
    )
    head = f"::{command} {props}" if props else f"::{command}"
    return f"{head}::{escape_data(message)}"


def _out(stream: IO[str] | None) -> IO[str]:
    # Resolved at call time so redirected/captured stdout is honoured.
    return sys.stdout if stream is None else stream


# -- outputs and summary ----------------------------------------------------


def _output_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _valid_output_name(name: str) -> bool:
    # GitHub output ids: a letter or '_' first, then letters, digits, '-' or '_'.
    # Anything else ('=', '<<', newlines) would corrupt the env-file framing.
    if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        return False
    return all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in name)


def _new_token() -> str:
    return uuid.uuid4().hex


def new_delimiter(value: str) -> str:
    """A random heredoc delimiter that does not occur in ``value``."""
    for _ in range(_MAX_TOKEN_TRIES):
        delimiter = _DELIMITER_PREFIX + _new_token()
        if delimiter not in value:
            return delimiter
    raise RuntimeError("could not pick a heredoc delimiter absent from the output value")


def format_output(name: str, value: Any) -> str:
    """The ``$GITHUB_OUTPUT`` record for one output (newline-terminated).

    Single-line values use ``name=value``; values with a line break use a
    heredoc with a random delimiter checked not to occur in the value, so a
    value cannot end the heredoc early and inject further outputs.
    """
    if not _valid_output_name(name):
        raise ValueError(f"invalid GitHub output name {name!r}: use letters, digits, '-' and '_'")
    text = _output_text(value)
    if "\n" not in text and "\r" not in text:
        return f"{name}={text}\n"
    delimiter = new_delimiter(text)
    return f"{name}<<{delimiter}\n{text}\n{delimiter}\n"


def _append(path: str, text: str) -> None:
    # newline="" keeps '\r' and '\n' byte-exact; the runner parses the framing itself.
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(text)


def set_output(name: str, value: Any) -> bool:
    """Append one step output to ``$GITHUB_OUTPUT``; False (nothing written) when it is not set."""
    record = format_output(name, value)
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    _append(path, record)
    return True


def set_outputs(outputs: Mapping[str, Any]) -> bool:
    """Append several outputs in one write; every name is validated before anything is written."""
    records = "".join(format_output(name, value) for name, value in outputs.items())
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    if records:
        _append(path, records)
    return True


def append_summary(markdown: str) -> bool:
    """Append Markdown to the job summary; False (nothing written) when ``$GITHUB_STEP_SUMMARY`` is unset.

    The text is cut, with a note, so the step's summary stays under GitHub's 1 MiB limit.
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    if not markdown.endswith("\n"):
        markdown += "\n"
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    data = markdown.encode("utf-8")
    room = SUMMARY_LIMIT_BYTES - used
    if len(data) > room:
        note = SUMMARY_TRUNCATED_NOTE.encode("utf-8")
        if room <= len(note):
            return True  # already at the limit: writing more would only fail the upload
        # errors="ignore" drops a multi-byte character cut in half.
        markdown = data[: room - len(note)].decode("utf-8", errors="ignore") + SUMMARY_TRUNCATED_NOTE
    _append(path, markdown)
    return True


# -- annotations ------------------------------------------------------------


def _annotate(
    level: str,
    message: str,
    title: str | None,
    file: str | None,
    line: int | None,
    end_line: int | None,
    col: int | None,
    end_column: int | None,
    stream: IO[str] | None,
) -> None:
    if in_actions():
        props = {
            "title": title,
            "file": file,
            "line": line,
            "endLine": end_line,
            "col": col,
            "endColumn": end_column,
        }
        print(format_command(level, props, message), file=_out(stream), flush=True)
        return
    where = ""
    if file:
        where = f"{file}:{line}: " if line is not None else f"{file}: "
    heading = f"{title}: " if title else ""
    print(f"{level}: {where}{heading}{message}", file=sys.stderr if stream is None else stream, flush=True)


def notice(
    message: str,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    *,
    end_line: int | None = None,
    col: int | None = None,
    end_column: int | None = None,
    stream: IO[str] | None = None,
) -> None:
    """A notice annotation (``::notice ...::``), or ``notice: ...`` on stderr outside Actions."""
    _annotate("notice", message, title, file, line, end_line, col, end_column, stream)


def warning(
    message: str,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    *,
    end_line: int | None = None,
    col: int | None = None,
    end_column: int | None = None,
    stream: IO[str] | None = None,
) -> None:
    """A warning annotation (``::warning ...::``), or ``warning: ...`` on stderr outside Actions."""
    _annotate("warning", message, title, file, line, end_line, col, end_column, stream)


def error(
    message: str,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    *,
    end_line: int | None = None,
    col: int | None = None,
    end_column: int | None = None,
    stream: IO[str] | None = None,
) -> None:
    """An error annotation (``::error ...::``), or ``error: ...`` on stderr outside Actions."""
    _annotate("error", message, title, file, line, end_line, col, end_column, stream)


# -- masking ----------------------------------------------------------------


def _mask_parts(value: str) -> list[str]:
    # The runner matches masks line by line in the log, so a multi-line secret is
    # registered whole and per line; blank lines would mask every space in the log.
    parts = [value] if value.strip() else []
    if "\n" in value or "\r" in value:
        for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if line.strip() and line not in parts:
                parts.append(line)
    return parts


def add_mask(value: str | None, *, stream: IO[str] | None = None) -> None:
    """Ask the runner to replace ``value`` with ``***`` in all later log output of the job.

    Outside Actions this does nothing: printing the value would be the leak.
    """
    if not value or not in_actions():
        return
    out = _out(stream)
    for part in _mask_parts(value):
        print(format_command("add-mask", None, part), file=out)
    out.flush()


# -- fencing untrusted text -------------------------------------------------


@contextmanager
def commands_stopped(text_hint: str = "", *, stream: IO[str] | None = None) -> Iterator[str]:
    """Stop the runner processing workflow commands until the block ends.

    Yields the random resume token. ``text_hint`` is the text about to be
    printed, when known, so the token is checked not to occur in it (text that
    contained ``::<token>::`` could otherwise resume command processing).
    Outside Actions nothing is printed around the block.
    """
    token = _new_token()
    for _ in range(_MAX_TOKEN_TRIES):
        if token not in text_hint:
            break
        token = _new_token()
    else:
        raise RuntimeError("could not pick a stop-commands token absent from the text")
    active = in_actions()
    out = _out(stream)
    if active:
        print(f"::stop-commands::{token}", file=out, flush=True)
    try:
        yield token
    finally:
        if active:
            out.flush()
            print(f"::{token}::", file=out, flush=True)


def stop_commands(text: str, *, stream: IO[str] | None = None) -> None:
    """Print untrusted text (e.g. model output) so that none of its lines runs as a workflow command."""
    out = _out(stream)
    with commands_stopped(text, stream=out):
        # The resume marker must start its own line.
        out.write(text if text.endswith("\n") else text + "\n")


# -- URLs carrying passwords ------------------------------------------------


def mask_secret_url(url: str | None, *, stream: IO[str] | None = None) -> str:
    """Mask every form of the URL's password in the job log and return the redacted URL for display."""
    for password in url_passwords(url):
        add_mask(password, stream=stream)
    return redact_url(url)
