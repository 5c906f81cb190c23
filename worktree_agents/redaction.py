"""Keeping API keys out of what wta writes: the values of the key variables, anything shaped
like an `sk-` key, and the credential of an `Authorization` or `x-api-key` header, blanked out
of output before it reaches a log or a prompt.

Stdlib only: the session wrapper imports it.
"""

from __future__ import annotations

import os
import re
from typing import IO, Iterator

SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY")
SECRET_LOOKING = re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{7,}")
# The credential of an HTTP header a test or a tool prints (`Authorization: Bearer ...`, `x-api-key: ...`, as a
# header, in JSON or in a curl command): the header's name is kept, its value blanked out.
SECRET_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+"
                           r"|x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{8,}")
REDACTED = "[redacted]"


class Redactor:
    """Blanks out the values of the API-key variables, anything shaped like an `sk-` key, and the credential
    of an `Authorization` or `x-api-key` header."""

    def __init__(self, env: dict[str, str]) -> None:
        values = {env[name].encode() for name in SECRET_VARIABLES if len(env.get(name, "")) >= 8}
        self.values = sorted(values, key=len, reverse=True)

    def __call__(self, data: bytes) -> bytes:
        for value in self.values:
            data = data.replace(value, REDACTED.encode())
        text = SECRET_LOOKING.sub(REDACTED, data.decode("utf-8", "surrogateescape"))
        return SECRET_HEADER.sub(lambda m: m.group(1) + REDACTED, text).encode("utf-8", "surrogateescape")

    def text(self, text: str) -> str:
        return self(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def redact_text(text: str, env: dict[str, str] | None = None) -> str:
    """`text` with the keys of `env` (default: this process's) and anything shaped like one blanked out:
    for what wta writes of text others gave it (a request, a prompt, an alert, a commit message)."""
    return Redactor(dict(os.environ) if env is None else env).text(text)


# Terminal control: escape sequences (CSI, OSC, two-character ones), then C0 but tab and line end, DEL,
# C1. In text an agent wrote (a request, a test's output) they set a terminal's title, erase lines, or
# write its clipboard (OSC 52) when printed.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without terminal escape sequences and control characters."""
    return _CONTROL.sub("", _ESCAPES.sub("", text))


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def shown(text: str) -> str:
    """`printable(text)`, but with its colours (SGR) and carriage returns (a progress bar's): an agent's output
    as `wta logs` shows it on a terminal."""
    kept = _ESCAPES.sub(lambda m: m.group(0) if _COLOUR.fullmatch(m.group(0)) else "", text)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]", "", kept)


def one_line(text: str) -> str:
    """`printable(text)` on one line."""
    return " ".join(printable(text).split())


LONGEST = 1 << 20   # bytes of output without a line end or carriage return passed on as they are


def pieces(source: IO[bytes]) -> Iterator[bytes]:
    """`source`'s output as it arrives, cut only after a line end or a carriage return (a progress
    bar's), so that no key is cut in two before it is redacted; a run without either is passed on
    once it reaches LONGEST bytes."""
    fd, held = source.fileno(), b""
    while True:
        data = os.read(fd, 65536)
        if not data:
            if held:
                yield held
            return
        held += data
        end = max(held.rfind(b"\n"), held.rfind(b"\r"))
        if end >= 0:
            yield held[:end + 1]
            held = held[end + 1:]
        if len(held) >= LONGEST:
            yield held
            held = b""
