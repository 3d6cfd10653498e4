"""Manifest loading: the real series loads, and every error names file, line, lesson and key."""

from __future__ import annotations

import datetime as dt
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.errors import ManifestError
from archiver.manifest import BCP47, SHA256, URL, load_manifest
from archiver.model import spoken_language
from archiver.store import LESSON_ID

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "manifests" / "digital-china.toml"

GOOD = """\
[series]
id = "s"
title = { en = "Series", zh = "系列" }
publisher = { en = "Pub", zh = "出版" }

[[lessons]]
id = "one"
number = 1
title = { en = "One", zh = "一" }
released = 2025-04-11
duration = "10:43"

[[lessons.sources]]
url = "https://127.0.0.1:8443/one.html"
kind = "original"
tls = "pin:sha256:{pin}"

[[lessons]]
id = "two"
number = 2
title = {{ en = "Two" }}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text, "utf-8")
    return path


def good(pin: str = "ab" * 32) -> str:
    return GOOD.replace("{pin}", pin).replace("{{", "{").replace("}}", "}")


def test_real_series_manifest_loads_with_lesson_13_complete() -> None:
    manifest = load_manifest(REAL)
    assert manifest.series.title.zh == "数字中国建设系列"
    assert [lesson.number for lesson in manifest.lessons] == list(range(1, 14))
    l13 = manifest.lesson("digital-china-13")
    assert l13.title.zh == "数字中国建设系列之十三:加强数字中国整体谋划统筹推进"
    assert l13.released == dt.date(2025, 4, 11)
    assert l13.duration_seconds == 643
    assert l13.speaker.zh == "北京国恒智林文化传播有限公司"
    assert l13.synopsis is not None and l13.synopsis.zh.startswith("推进数字中国建设")
    assert len(l13.footnotes) == 7 and all(t.note for t in l13.terminology)
    assert l13.transcript is not None and l13.transcript.is_file()
    # lessons with unknown facts carry none: no invented titles or URLs
    l3 = manifest.lesson("digital-china-03")
    assert (l3.title.en, l3.title.zh, l3.sources, l3.duration) == ("", "", (), None)


def test_spoken_language_comes_from_the_lesson_else_the_series_else_und(
        tmp_path: Path) -> None:
    real = load_manifest(REAL)
    assert real.series.language == "zh"  # digital-china is spoken in Chinese
    assert {spoken_language(lesson, real.series) for lesson in real.lessons} == {"zh"}
    text = good().replace('number = 2', 'number = 2\nlanguage = "zh-yue"', 1)
    plain = load_manifest(write(tmp_path, text))
    assert plain.series.language is None
    assert [spoken_language(lesson, plain.series) for lesson in plain.lessons] == \
        ["und", "zh-yue"]
    text = text.replace('publisher = { en = "Pub", zh = "出版" }',
                        'publisher = { en = "Pub", zh = "出版" }\nlanguage = "en"')
    series = load_manifest(write(tmp_path, text))
    assert [spoken_language(lesson, series.series) for lesson in series.lessons] == \
        ["en", "zh-yue"]


@pytest.mark.parametrize("tag", ["zh", "zh-Hans", "zh-Hans-CN", "en-GB-oxendict", "zh-yue",
                                 "zh-Hans-x-en", "x-private", "sl-rozaj-biske", "de-CH-1996"])
def test_well_formed_bcp47_tags_are_accepted(tag: str) -> None:
    assert BCP47.fullmatch(tag)


@pytest.mark.parametrize("tag", ["", "zh_CN", "z", "zh-", "zh--Hans", "toolonglanguage",
                                 "zh-Hans-x", "en-a"])
def test_malformed_bcp47_tags_are_rejected(tag: str) -> None:
    assert not BCP47.fullmatch(tag)


def test_transcript_is_verbatim_from_the_seed() -> None:
    seed = (ROOT.parent.parent / "shared" / "seeds" / "000_f0b3b6c2ec4783bb.txt")
    if not seed.exists():
        seed = ROOT.parent / "shared" / "seeds" / "000_f0b3b6c2ec4783bb.txt"
    if not seed.exists():
        pytest.skip("seed document not beside this checkout")
    transcript = (ROOT / "manifests" / "transcripts" / "digital-china-13.txt").read_text("utf-8")
    assert transcript.startswith("00:22\n")
    assert transcript in seed.read_text("utf-8")
    assert transcript.count("\n10:21\n") == 1


def test_good_manifest_parses_policies(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, good()))
    source = manifest.lessons[0].sources[0]
    assert (source.tls.mode, source.tls.pin_sha256) == ("pin", "ab" * 32)
    assert str(source.tls) == "pin:sha256:" + "ab" * 32


@pytest.mark.parametrize(("change", "lesson", "key", "words"), [
    (('id = "two"', 'id = "../x"'), None, "id", "lowercase"),
    (('id = "two"', 'id = "/etc"'), None, "id", "lowercase"),
    (('id = "two"', 'id = "Two"'), None, "id", "lowercase"),
    (('id = "two"', 'id = "' + "a" * 65 + '"'), None, "id", "65 characters long; at most 64"),
    (('id = "two"', 'id = "-two"'), None, "id", "starting and ending with a letter or digit"),
    (('id = "two"', 'id = "one"'), "one", "id", "duplicate"),
    (('duration = "10:43"', 'duration = "10m43"'), "one", "duration", "mm:ss"),
    (('released = 2025-04-11', 'released = "April"'), "one", "released", "date"),
    (('kind = "original"', 'kind = "copy"'), "one", "sources[0].kind", "original"),
    (('tls = "pin:sha256:' + "ab" * 32 + '"', 'tls = "none"'), "one", "sources[0].tls", "verify"),
    (('tls = "pin:sha256:' + "ab" * 32 + '"', 'tls = "pin:sha256:zz"'), "one",
     "sources[0].tls", "64 hex"),
    (('tls = "pin:sha256:' + "ab" * 32 + '"', 'tls = "ca:missing.pem"'), "one",
     "sources[0].tls", "does not exist"),
    (('url = "https://127.0.0.1:8443/one.html"', 'url = "file:///etc/passwd"'), "one",
     "sources[0].url", "http(s)"),
    (('kind = "original"', 'kind = "original"\nresolve = ["one.example:443"]'), "one",
     "sources[0].resolve[0]", "HOST:PORT:ADDRESS"),
    (('kind = "original"', 'kind = "original"\nresolve = ["one.example:443:cdn.example"]'),
     "one", "sources[0].resolve[0]", "not an IP address"),
    (('kind = "original"', 'kind = "original"\nresolve = "one.example:443:127.0.0.1"'), "one",
     "sources[0].resolve", "list"),
    (('kind = "original"', 'kind = "original"\ntls_hosts = { "cdn.example" = "sometimes" }'),
     "one", "sources[0].tls_hosts.cdn.example", "verify"),
    (('kind = "original"', 'kind = "original"\ntls_hosts = "verify"'), "one",
     "sources[0].tls_hosts", "table"),
    (('number = 2', 'number = 2\nsha265 = "x"'), "two", "sha265", "unknown key"),
    (('number = 2', 'number = -2'), "two", "number", "positive"),
    (('number = 2', 'number = 2\ntranscript = "nope.txt"'), "two", "transcript", "not exist"),
    (('number = 2', 'number = 2\nlanguage = "zh_CN"'), "two", "language", "BCP 47"),
    (('number = 2', 'number = 2\nlanguage = 7'), "two", "language", "BCP 47"),
    (('publisher = { en = "Pub", zh = "出版" }',
      'publisher = { en = "Pub", zh = "出版" }\nlanguage = "Chinese (Mandarin)"'), None,
     "series.language", "BCP 47"),
])
def test_errors_name_file_line_lesson_and_key(tmp_path: Path, change: tuple[str, str],
                                              lesson: str | None, key: str, words: str) -> None:
    text = good()
    assert change[0] in text
    path = write(tmp_path, text.replace(change[0], change[1], 1))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    error = caught.value
    assert error.exit_code == 2
    assert error.where.file == path and error.where.key == key
    if lesson:
        assert error.where.lesson == lesson
    assert error.where.line is not None
    bad_line = path.read_text("utf-8").splitlines()[error.where.line - 1]
    assert key.split(".")[-1].split("[")[0] in bad_line or "[[lessons" in bad_line
    assert words in error.message
    assert str(path) in str(error) and key in str(error)


def test_resolve_and_tls_hosts_are_read(tmp_path: Path) -> None:
    text = good().replace('kind = "original"', 'kind = "original"\n'
                          'resolve = ["one.example:443:127.0.0.2"]\n'
                          'tls_hosts = { "cdn.example" = "insecure" }', 1)
    (source,) = load_manifest(write(tmp_path, text)).lessons[0].sources
    assert source.resolve == ("one.example:443:127.0.0.2",)
    assert [(h, str(p)) for h, p in source.tls_hosts] == [("cdn.example", "insecure")]


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, good().replace('number = 2', 'number = = 2'))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.where.line == good().splitlines().index("number = 2") + 1


@pytest.mark.slow  # `archiver` in a child process
def test_bad_manifest_exits_2_before_any_download(tmp_path: Path) -> None:
    path = write(tmp_path, good().replace('id = "two"', 'id = "../x"'))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "archiver", "fetch", "--manifest", str(path),
                           "--output", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'../x'" in proc.stderr and "key 'id'" in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "lessons").exists()


@pytest.mark.slow  # `archiver` in a child process
def test_unknown_only_id_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, good())
    proc = subprocess.run([sys.executable, "-m", "archiver", "status", "--manifest", str(path),
                           "--output", str(tmp_path / "o"), "--only", "nine"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nine" in proc.stderr


toml_text = st.text(alphabet=string.printable + "数字中国", max_size=300)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=toml_text, position=st.integers(min_value=0, max_value=2000))
def test_fuzzed_manifests_raise_only_located_manifest_errors(tmp_path: Path, noise: str,
                                                             position: int) -> None:
    text = good()
    position = min(position, len(text))
    path = write(tmp_path, text[:position] + noise + text[position:])
    try:
        manifest = load_manifest(path)
    except ManifestError as error:
        assert error.where.file == path
        return
    # whatever loads keeps every promise the later stages rely on
    assert manifest.lessons and manifest.path == path.resolve()
    ids = [lesson.id for lesson in manifest.lessons]
    assert len(set(ids)) == len(ids)  # one folder per lesson
    for lesson in manifest.lessons:
        assert LESSON_ID.fullmatch(lesson.id) and "/" not in lesson.id and ".." not in lesson.id
        assert lesson.number >= 1 and not isinstance(lesson.number, bool)
        assert lesson.sha256 is None or SHA256.fullmatch(lesson.sha256)
        assert lesson.transcript is None or lesson.transcript.is_file()
        assert all(URL.fullmatch(source.url) for source in lesson.sources)
