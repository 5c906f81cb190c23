"""Keeping API keys out of what wta writes: the values of the key variables, and anything
shaped like an `sk-` key, blanked out of output before it reaches a log.

Stdlib only: the session wrapper imports it.
"""

from __future__ import annotations

import re

SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY")
SECRET_LOOKING = re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{7,}")
REDACTED = "[redacted]"


class Redactor:
    """Blanks out the values of the API-key variables and anything shaped like an `sk-` key."""

    def __init__(self, env: dict[str, str]) -> None:
        values = {env[name].encode() for name in SECRET_VARIABLES if len(env.get(name, "")) >= 8}
        self.values = sorted(values, key=len, reverse=True)

    def __call__(self, data: bytes) -> bytes:
        for value in self.values:
            data = data.replace(value, REDACTED.encode())
        return SECRET_LOOKING.sub(REDACTED, data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
