"""A failed lesson's reason as the public may read it: error class and one short line.

Stage records keep the full error (file, line, key, tool output) for the archivist; the site and
its catalog are public, so they carry no local path, no traceback and no tool dump, only what
a visitor needs: which kind of failure (the exception class) and its first sentence.
"""

from __future__ import annotations

import re

MAX_CHARS = 160
# an absolute path on this machine: a '/' that does not belong to a URL (scheme://host/path)
_PATH = re.compile(r"(?<![\w:/.~-])(?:~|/)(?:[^\s:'\"()]+/)*[^\s:'\"()]*")
_LESSON = re.compile(r"^lesson '[^']*'$")


def _is_location(part: str) -> bool:
    """A `Location` prefix segment: a path (`/x/y.json:12`), `lesson 'x'` or `key 'k'`."""
    part = part.strip()
    return bool(_PATH.fullmatch(part.rsplit(":", 1)[0]) or _LESSON.match(part)
                or re.match(r"^key '[^']*'$", part))


def public_reason(error: str | None, error_class: str | None = None) -> str | None:
    """`ErrorClass: first line` without local paths, tracebacks or anything past MAX_CHARS."""
    if not error and not error_class:
        return None
    text = (error or "").split("Traceback (most recent call last)")[0]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    parts = first.split(": ")
    while len(parts) > 1 and _is_location(parts[0]):
        parts.pop(0)
    message = _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1]
                        if "/" in m.group(0).strip("/") else m.group(0), ": ".join(parts))
    message = message.strip() or "failed"
    if len(message) > MAX_CHARS:
        message = message[:MAX_CHARS - 1].rstrip() + "…"
    return f"{error_class}: {message}" if error_class else message
