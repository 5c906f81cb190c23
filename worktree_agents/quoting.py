"""Where each character of a shell command from zones.yaml stands: bare, inside '...' or "...", or
inside a command substitution (`$(...)`, backticks) within double quotes, where words stand bare
again; and inside how many backtick substitutions, whose text the shell reads twice. What
`agent.command` and `notify` fill their placeholders in by (runners.quoted_placeholder,
coordination.watch.fill_command); and whether `/bin/sh` reads a command at all (`syntax_error`).
Also how a command wta suggests in a message quotes its words (`shell_word`, `shell_words`).
The standard library only: zones.yaml's schema uses it.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

BARE, SINGLE, DOUBLE = None, "'", '"'


def contexts(command: str) -> Iterator[tuple[int, str | None, int, bool]]:
    """(index, quoting, backticks, guessed) of each character that is not an escape's or a quote's own: its
    quoting BARE (outside quotes, or in a command substitution), SINGLE or DOUBLE, how many backtick
    substitutions enclose it, and whether a substitution began before it. A backslash and the character
    it escapes, and the quotes and `$(`, `)`, backticks that open and close a context, are passed over.
    From a substitution on, the quoting is a guess (a `case` pattern's `)` is not followed): a caller
    that must not be wrong there takes no chances (watch.fill_command)."""
    stack: list[str | None] = [BARE]   # BARE, SINGLE, DOUBLE; "(" and "`": a command substitution
    guessed = False
    i = 0
    while i < len(command):
        inside, char = stack[-1], command[i]
        if inside == SINGLE:
            if char == "'":
                stack.pop()
            else:
                yield i, SINGLE, stack.count("`"), guessed
        elif char == "\\":
            i += 1   # the escaped character stands as itself
        elif command.startswith("$(", i):
            stack.append("(")
            guessed = True
            i += 1
        elif char == "`":
            stack.pop() if inside == "`" else stack.append("`")
            guessed = True
        elif inside == "(" and char == "(":
            stack.append("(")   # a group, or `$((`'s second: its `)` is not the substitution's
        elif inside == DOUBLE and char == '"':
            stack.pop()
        elif inside != DOUBLE and char in "'\"":
            stack.append(char)
        elif inside == "(" and char == ")":
            stack.pop()
        else:
            yield i, DOUBLE if inside == DOUBLE else BARE, stack.count("`"), guessed
        i += 1


def in_backticks(text: str, levels: int) -> str:
    """`text` as it must be written inside `levels` backtick substitutions to reach the command in them
    unchanged: the shell reads `\\`, `\\``, `\\$` there once before it runs that command."""
    for _ in range(levels):
        text = text.replace("\\", "\\\\").replace("`", "\\`").replace("$", "\\$")
    return text


@functools.lru_cache(maxsize=None)
def syntax_error(command: str) -> str | None:
    """What `/bin/sh`, which runs every command of zones.yaml, finds wrong in `command`'s syntax (an
    unclosed quote, `$(` or `if`), read without running it (`sh -n`); None when it reads."""
    proc = subprocess.run(["/bin/sh", "-n", "-c", command], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, errors="replace")
    if proc.returncode == 0:
        return None
    said = proc.stderr.strip().splitlines()
    return re.sub(r"^\S*sh: \d+: ", "", said[-1]) if said else f"sh -n exited {proc.returncode}"


_ANSI_C = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'"}


def shell_word(word: str) -> str:
    """`word` as one word of a command a message suggests to paste into a shell: as shlex.quote writes it,
    or, when it holds a control character (a newline would break the message's one line), as bash's and
    zsh's `$'...'` with C escapes. A path that may start with `-` goes after `--`: quoting keeps the dash."""
    if not any(ch < " " or ch == "\x7f" for ch in word):
        return shlex.quote(word)
    return "$'" + "".join(_ANSI_C.get(ch) or (f"\\{ord(ch):03o}" if ch < " " or ch == "\x7f" else ch)
                          for ch in word) + "'"


def shell_words(words: Iterable[str]) -> str:
    """The words, each as `shell_word` quotes it, joined by spaces."""
    return " ".join(shell_word(w) for w in words)
