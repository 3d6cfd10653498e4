"""Chinese word boundaries (jieba), so that no line or cue ever breaks inside a word.

Chinese is written without spaces; a break between two Han characters is only right where a
word ends (资本垄断, not 资本垄/断). jieba's PyPI package carries its own dictionary, so it works
offline. Its first start builds a prefix dictionary from it (about 5 s here) and caches that
with `marshal`; later starts load the cache (about 0.5 s). The tokenizer is made once per process
(`tokenizer`), its cache file lives in the temporary directory (`tempfile.gettempdir()`, i.e.
`$TMPDIR`: nothing is written anywhere else), and its log lines are silenced: a subtitle run must
not print "Building prefix dict…" on every start.

A lesson's manifest `terms` are user words: a term is never split either. They are applied to
the boundaries of each text (`boundaries`), not added to the shared tokenizer, so one lesson's
terms never change another lesson's lines (the pipeline runs lessons in threads, in any order).
`lesson_terms` sets them for the current build (a context variable: per thread, per build).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from archiver.subtitles.text import is_cjk

_TERMS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("terms", default=())
_LOCK = threading.Lock()


_MADE: list[Any] = []  # the one tokenizer of this process, once made


def tokenizer() -> Any:
    """jieba's tokenizer, initialised once per process (threads wait for the first), quietly,
    caching its prefix dictionary in $TMPDIR."""
    if _MADE:
        return _MADE[0]
    with _LOCK:
        if not _MADE:
            import jieba  # imported here: only the subtitle stage pays its start-up

            jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict…" lines
            made = jieba.Tokenizer()
            made.tmp_dir = tempfile.gettempdir()
            made.initialize()
            _MADE.append(made)
    return _MADE[0]


@contextlib.contextmanager
def lesson_terms(terms: Iterable[str]) -> Iterator[None]:
    """Within the block, `boundaries` never splits one of `terms` (the manifest's zh terms)."""
    token = _TERMS.set(tuple(sorted({t for t in terms if len(t) > 1})))
    try:
        yield
    finally:
        _TERMS.reset(token)


def boundaries(text: str) -> frozenset[int]:
    """Offsets in `text` where a word ends (0 and len(text) included), for the current terms."""
    return _boundaries(text, _TERMS.get())


@functools.lru_cache(maxsize=8192)
def _boundaries(text: str, terms: tuple[str, ...]) -> frozenset[int]:
    cuts = {0}
    position = 0
    for word in tokenizer().cut(text, HMM=True):
        position += len(word)
        cuts.add(position)
    for term in terms:
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            cuts.difference_update(range(start + 1, end))
            cuts.update((start, end))
            start = text.find(term, end)
    return frozenset(cuts)


def inside_word(text: str, i: int) -> bool:
    """Would a break before text[i] split a Chinese word? Only between two Han characters:
    Latin words, numbers and punctuation are the line breaker's own rules (`lines`)."""
    if i <= 0 or i >= len(text) or not (is_cjk(text[i - 1]) and is_cjk(text[i])):
        return False
    return i not in boundaries(text)


def split_words(text: str) -> list[str]:
    """`text` cut at its word boundaries (for reports: 资本垄/断 shows which word was split)."""
    cuts = sorted(boundaries(text))
    return [text[a:b] for a, b in itertools.pairwise(cuts)]
