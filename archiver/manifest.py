"""Load and validate a series manifest (TOML) into typed records.

Every error names the file, the line when it can be found, the lesson id and the key, and is a
`ManifestError` (exit code 2): a bad manifest stops the run before any download starts.
Unknown keys are errors, so a typo (`sha265`) cannot silently disable a check.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archiver.errors import Location, ManifestError, UsageError
from archiver.fetch.hostmap import parse_entry
from archiver.model import (
    Bilingual,
    Lesson,
    Manifest,
    Series,
    SiteSettings,
    Source,
    Term,
    TlsPolicy,
)
from archiver.store import LESSON_ID

DURATION = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]\d)")
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ID_LENGTH = 64  # as store.LESSON_ID allows; said on its own, not as "lowercase"
URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)
# a well-formed BCP 47 `langtag` or private-use tag (RFC 5646 section 2.1): language
# (+extlang), script, region, variants, extensions, private use. Whether each subtag is
# registered is left to mkvmerge, which knows the registry and names the bad tag.
_ALNUM = "[a-z0-9]"
BCP47 = re.compile(
    r"(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"
    rf"(?:-[0-9a-wyz](?:-{_ALNUM}{{2,8}})+)*"
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"
    rf"|x(?:-{_ALNUM}{{1,8}})+)", re.IGNORECASE)

SERIES_KEYS = {"id", "title", "publisher", "description", "language"}
LESSON_KEYS = {
    "id", "number", "title", "released", "duration", "speaker", "synopsis", "transcript",
    "sha256", "sources", "page", "terms", "footnotes", "language",
}
SOURCE_KEYS = {"url", "kind", "tls", "description", "legacy_renegotiation", "tls_hosts",
               "resolve"}
TERM_KEYS = {"en", "zh", "note"}
SITE_KEYS = {"base_url", "embed_base_url", "provider_name", "provider_url", "attribution"}
TOP_KEYS = {"series", "lessons", "site"}


class _Lines:
    """Best-effort line numbers for keys (tomllib reports none after a successful parse)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.lesson_starts = [
            i + 1 for i, line in enumerate(self.lines) if line.strip().startswith("[[lessons]]")
        ]

    def find(self, key: str | None, lesson_index: int | None) -> int | None:
        start, end = 1, len(self.lines)
        if lesson_index is not None and lesson_index < len(self.lesson_starts):
            start = self.lesson_starts[lesson_index]
            if lesson_index + 1 < len(self.lesson_starts):
                end = self.lesson_starts[lesson_index + 1] - 1
        if key is None:
            return start if lesson_index is not None else None
        leaf = key.split(".")[-1].split("[")[0]
        pattern = re.compile(rf"^\s*(?:\[\[?[\w.]*\b)?{re.escape(leaf)}\b\s*(=|\]\]?)")
        for number in range(start, end + 1):
            if pattern.search(self.lines[number - 1]):
                return number
        return start if lesson_index is not None else None


class _Checker:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)
        self.lesson_index: int | None = None
        self.lesson_id: str | None = None

    def fail(self, key: str | None, message: str) -> ManifestError:
        line = self.lines.find(key, self.lesson_index)
        return ManifestError(message, Location(self.path, line, self.lesson_id, key))

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {type(value).__name__}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        return value

    def text(self, value: Any, key: str, required: bool = True) -> str:
        if value is None:
            if required:
                raise self.fail(key, "missing required key")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def bilingual(self, value: Any, key: str, required: bool = True) -> Bilingual | None:
        if value is None:
            if required:
                raise self.fail(key, "missing required key (a table {en = \"…\", zh = \"…\"})")
            return None
        if isinstance(value, str):  # a name known in one form only, e.g. an organisation
            return Bilingual(en=self.text(value, key), zh="")
        table = self.table(value, key, {"en", "zh"})
        en = self.text(table.get("en"), f"{key}.en", required=False)
        zh = self.text(table.get("zh"), f"{key}.zh", required=False)
        if not en and not zh:
            raise self.fail(key, "needs at least one of en, zh")
        return Bilingual(en=en, zh=zh)


def _language(check: _Checker, value: Any, key: str) -> str | None:
    """An optional BCP 47 tag of the spoken language (`zh`, `en`, `zh-yue`...)."""
    if value is None:
        return None
    if not isinstance(value, str) or not BCP47.fullmatch(value.strip()):
        raise check.fail(key, f"expected a BCP 47 language tag such as \"zh\" or \"en\", "
                              f"got {value!r}")
    return value.strip()


def parse_tls(value: str, base: Path) -> TlsPolicy:
    """Parse a `tls` string; raises ValueError with a user-facing reason."""
    if value in ("verify", "insecure"):
        return TlsPolicy(mode=value)  # type: ignore[arg-type]
    if value.startswith("ca:"):
        bundle = value[3:]
        if not bundle:
            raise ValueError("ca: needs the path of a PEM bundle, e.g. ca:certs/site.pem")
        path = (base / bundle).resolve()
        if not path.is_file():
            raise ValueError(f"CA bundle {path} does not exist")
        return TlsPolicy(mode="ca", ca_bundle=path)
    if value.startswith("pin:"):
        algo, _, digest = value[4:].partition(":")
        digest = digest.replace(":", "").lower()
        if algo != "sha256" or not SHA256.fullmatch(digest):
            raise ValueError("pin needs pin:sha256:<64 hex digits of the leaf certificate>")
        return TlsPolicy(mode="pin", pin_sha256=digest)
    raise ValueError(f"{value!r} is not one of verify, ca:<bundle>, pin:sha256:<hex>, insecure")


def _duration(check: _Checker, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not DURATION.fullmatch(value):
        raise check.fail("duration", f"expected \"mm:ss\" or \"hh:mm:ss\", got {value!r}")
    return value


def _released(check: _Checker, value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise check.fail("released", f"expected a date such as 2025-04-11, got {value!r}")


def _sources(check: _Checker, value: Any, base: Path) -> tuple[Source, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise check.fail("sources", "expected a list of {url, kind, tls} tables")
    sources = []
    for i, raw in enumerate(value):
        key = f"sources[{i}]"
        table = check.table(raw, key, SOURCE_KEYS)
        url = check.text(table.get("url"), f"{key}.url")
        if not URL.fullmatch(url):
            raise check.fail(f"{key}.url", f"expected an http(s) URL, got {url!r}")
        kind = table.get("kind", "original")
        if kind not in ("original", "mirror"):
            raise check.fail(f"{key}.kind", f"expected \"original\" or \"mirror\", got {kind!r}")
        try:
            tls = parse_tls(table.get("tls", "verify"), base)
        except (ValueError, AttributeError) as exc:
            raise check.fail(f"{key}.tls", str(exc)) from None
        description = check.text(table.get("description"), f"{key}.description", required=False)
        legacy = table.get("legacy_renegotiation", False)
        if not isinstance(legacy, bool):
            raise check.fail(f"{key}.legacy_renegotiation",
                             f"expected true or false, got {legacy!r}")
        sources.append(Source(url=url, kind=kind, tls=tls, description=description,
                              legacy_renegotiation=legacy,
                              tls_hosts=_tls_hosts(check, table.get("tls_hosts"), key, base),
                              resolve=_resolve(check, table.get("resolve"), key)))
    return tuple(sources)


def _tls_hosts(check: _Checker, value: Any, key: str,
               base: Path) -> tuple[tuple[str, TlsPolicy], ...]:
    """`tls_hosts = { "cdn.example.org" = "pin:sha256:…" }`: a policy per other host."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise check.fail(f"{key}.tls_hosts", "expected a table of host = \"tls policy\", "
                         f"got {value!r}")
    hosts = []
    for host, policy in value.items():
        where = f"{key}.tls_hosts.{host}"
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or "." not in host:
            raise check.fail(where, f"expected a host name such as cdn.example.org, got {host!r}")
        if not isinstance(policy, str):
            raise check.fail(where, f"expected a tls policy string, got {policy!r}")
        try:
            hosts.append((host.lower(), parse_tls(policy, base)))
        except (ValueError, AttributeError) as exc:
            raise check.fail(where, str(exc)) from None
    return tuple(hosts)


def _resolve(check: _Checker, value: Any, key: str) -> tuple[str, ...]:
    """`resolve = ["host:443:1.2.3.4"]` (curl's --resolve), each entry checked here."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise check.fail(f"{key}.resolve", f"expected a list of \"HOST:PORT:ADDRESS\" "
                         f"strings, got {value!r}")
    for i, entry in enumerate(value):
        try:
            parse_entry(entry, f"{key}.resolve[{i}]")
        except UsageError as exc:
            raise check.fail(f"{key}.resolve[{i}]", exc.message) from None
    return tuple(value)


def _terms(check: _Checker, value: Any) -> tuple[Term, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise check.fail("terms", "expected a list of {en, zh, note} tables")
    terms = []
    for i, raw in enumerate(value):
        table = check.table(raw, f"terms[{i}]", TERM_KEYS)
        note = table.get("note")
        if note is not None and (not isinstance(note, int) or note < 1):
            raise check.fail(f"terms[{i}].note", f"expected a footnote number ≥ 1, got {note!r}")
        terms.append(Term(en=check.text(table.get("en"), f"terms[{i}].en"),
                          zh=check.text(table.get("zh"), f"terms[{i}].zh"), note=note))
    return tuple(terms)


def _site_url(check: _Checker, value: Any, key: str) -> str | None:
    if value is None:
        return None
    url = check.text(value, key)
    if not URL.fullmatch(url):
        raise check.fail(key, f"expected an absolute http(s) URL, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _site(check: _Checker, value: Any) -> SiteSettings:
    """The optional `[site]` table (docs/serving.md): where and by whom the site is published."""
    if value is None:
        return SiteSettings()
    table = check.table(value, "site", SITE_KEYS)
    return SiteSettings(
        base_url=_site_url(check, table.get("base_url"), "site.base_url"),
        embed_base_url=_site_url(check, table.get("embed_base_url"), "site.embed_base_url"),
        provider_name=check.bilingual(table.get("provider_name"), "site.provider_name",
                                      required=False),
        provider_url=_site_url(check, table.get("provider_url"), "site.provider_url"),
        attribution=check.bilingual(table.get("attribution"), "site.attribution",
                                    required=False),
    )


def _lesson(check: _Checker, raw: Any, base: Path) -> Lesson:
    if not isinstance(raw, dict):
        raise check.fail(None, "each [[lessons]] entry must be a table")
    lesson_id = raw.get("id")
    if isinstance(lesson_id, str) and len(lesson_id) > MAX_ID_LENGTH:
        raise check.fail("id", f"lesson id is {len(lesson_id)} characters long; at most "
                         f"{MAX_ID_LENGTH} are allowed (it becomes a folder name and part of "
                         f"URLs), got {lesson_id[:MAX_ID_LENGTH]!r}…")
    if not isinstance(lesson_id, str) or not LESSON_ID.fullmatch(lesson_id):
        raise check.fail("id", f"lesson id must be lowercase [a-z0-9-]+, starting and ending "
                         f"with a letter or digit (it becomes a folder name), got "
                         f"{lesson_id!r}")
    check.lesson_id = lesson_id
    check.table(raw, "", LESSON_KEYS)
    number = raw.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise check.fail("number", f"expected a positive integer, got {number!r}")
    transcript = None
    if raw.get("transcript") is not None:
        rel = check.text(raw["transcript"], "transcript")
        transcript = (base / rel).resolve()
        if not transcript.is_file():
            raise check.fail("transcript", f"transcript file {transcript} does not exist")
    sha = raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not SHA256.fullmatch(sha.lower())):
        raise check.fail("sha256", "expected 64 lowercase hex digits")
    footnotes = raw.get("footnotes", [])
    if not isinstance(footnotes, list) or not all(isinstance(f, str) for f in footnotes):
        raise check.fail("footnotes", "expected a list of strings")
    page = raw.get("page")
    if page is not None and (not isinstance(page, str) or not URL.fullmatch(page)):
        raise check.fail("page", f"expected an http(s) URL, got {page!r}")
    terms = _terms(check, raw.get("terms"))
    for term in terms:
        if term.note is not None and term.note > len(footnotes):
            raise check.fail("terms", f"term {term.en!r} cites footnote {term.note}, "
                             f"but only {len(footnotes)} footnotes are given")
    return Lesson(
        id=lesson_id,
        number=number,
        title=check.bilingual(raw.get("title"), "title", required=False) or Bilingual(),
        released=_released(check, raw.get("released")),
        duration=_duration(check, raw.get("duration")),
        speaker=check.bilingual(raw.get("speaker"), "speaker", required=False) or Bilingual(),
        synopsis=check.bilingual(raw.get("synopsis"), "synopsis", required=False),
        transcript=transcript,
        sha256=sha.lower() if isinstance(sha, str) else None,
        sources=_sources(check, raw.get("sources"), base),
        page=page,
        terminology=terms,
        footnotes=tuple(footnotes),
        language=_language(check, raw.get("language"), "language"),
    )


def load_manifest(path: Path) -> Manifest:
    """Read, parse and validate `path`; raise ManifestError naming file/line/lesson/key."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ManifestError("manifest file not found", Location(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest: {exc}", Location(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise ManifestError(f"not valid TOML: {exc}", Location(path, line)) from None
    check = _Checker(path, text)
    base = path.parent
    check.table(data, "", TOP_KEYS)
    series_raw = check.table(data.get("series"), "series", SERIES_KEYS)
    series = Series(
        id=check.text(series_raw.get("id"), "series.id"),
        title=check.bilingual(series_raw.get("title"), "series.title") or Bilingual(),
        publisher=check.bilingual(series_raw.get("publisher"), "series.publisher") or Bilingual(),
        description=check.bilingual(series_raw.get("description"), "series.description",
                                    required=False),
        language=_language(check, series_raw.get("language"), "series.language"),
    )
    site = _site(check, data.get("site"))
    raw_lessons = data.get("lessons")
    if not isinstance(raw_lessons, list) or not raw_lessons:
        raise check.fail("lessons", "expected at least one [[lessons]] table")
    lessons: list[Lesson] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_lessons):
        check.lesson_index, check.lesson_id = index, None
        lesson = _lesson(check, raw, base)
        if lesson.id in seen:
            raise check.fail("id", f"duplicate lesson id (also lesson #{seen[lesson.id] + 1})")
        seen[lesson.id] = index
        lessons.append(lesson)
    return Manifest(path=path.resolve(), series=series, lessons=tuple(lessons), site=site)


def select(manifest: Manifest, only: list[str] | None,
           fail: Callable[[str], Exception] | None = None) -> list[Lesson]:
    """The lessons named by `--only` (all when None); unknown ids are a usage error."""
    if not only:
        return list(manifest.lessons)
    known = {lesson.id for lesson in manifest.lessons}
    unknown = [i for i in only if i not in known]
    if unknown:
        message = f"--only names unknown lesson(s): {', '.join(unknown)}"
        raise (fail(message) if fail else ManifestError(message, Location(manifest.path)))
    return [lesson for lesson in manifest.lessons if lesson.id in only]
