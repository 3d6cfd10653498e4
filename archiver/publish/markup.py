"""A tiny HTML helper with autoescaping: every value is escaped unless it is already `Markup`.

Why not a template engine: the pages are few and small, and the one property that matters is
that text from manifests and transcripts can never become markup. Here a value becomes markup
only by passing through `esc` (which escapes) or `render`/`join` (whose inputs were escaped), so
forgetting to escape is not possible by accident.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any


class Markup(str):
    """A string that is already safe HTML (produced only by this module's functions)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """Escape `value` for HTML text and quoted attributes (`&`, `<`, `>`, `"` and `'`)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: object) -> Markup:
    """Fill `{name}` placeholders of a trusted template with escaped values."""
    return Markup(template.format(**{key: esc(value) for key, value in values.items()}))


def join(parts: Iterable[object], sep: str = "\n") -> Markup:
    """Concatenate escaped parts (Markup parts stay as they are)."""
    return Markup(sep.join(esc(part) for part in parts))


def json_for_script(data: Any) -> Markup:
    """JSON that is safe inside `<script type="application/ld+json">`.

    `<`, `>` and `&` become JSON unicode escapes, so a text such as `</script><script>` in a
    title cannot end the script element; JSON parsers read the same data.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return Markup(text)


def clock(seconds: float) -> str:
    """`mm:ss` (or `h:mm:ss`) for a time in seconds, as the transcript shows it."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration (`PT10M43S`) for schema.org."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = "PT"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    return out + f"{secs}S"
