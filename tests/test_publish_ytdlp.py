"""yt-dlp as a downstream client of the published site (issue 11 item 4).

yt-dlp keys a page's `<track>`s by `srclang`, so two tracks sharing a tag collapse into one
language and a file is lost. With the track table's tags (`zh-Hans`, `en`, `zh-Hans-x-en`),
`-J` lists three languages and `--all-subs` writes three files, on the lesson page and on the
embed page, for a video and for an audio-only lesson. The files are compared byte for byte
with the package's tracks: yt-dlp downloads WebVTT as served (no conversion without
`--convert-subs`), so anything but byte equality would be a defect in what we serve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clients import ytdlp_client
from publish_support import AUDIO, add_audio_lesson, audio_clip, served_site
from test_publish_site import LESSON, build_archive

from archiver.model import TRACKS

pytestmark = pytest.mark.slow  # a served site read back by yt-dlp's extractors

TAGS = [t.bcp47 for t in TRACKS]  # zh-Hans, en, zh-Hans-x-en


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("ytdlp")
    output, manifest = build_archive(root)
    add_audio_lesson(output, manifest, audio_clip(root / "corpus"))
    with served_site(output, manifest) as server:
        yield {"url": server.url, "output": output}


PAGES = [(LESSON, f"{LESSON}.html"), (LESSON, f"embed/{LESSON}.html"),
         (AUDIO, f"{AUDIO}.html"), (AUDIO, f"embed/{AUDIO}.html")]


@pytest.mark.parametrize(("lesson", "page"), PAGES)
def test_ytdlp_lists_three_languages(site: dict[str, Any], lesson: str, page: str) -> None:
    run = ytdlp_client(site["url"] + page, "-J")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert sorted(info["subtitles"]) == sorted(TAGS)
    for spec in TRACKS:  # each language is the track the table says it is
        (entry,) = info["subtitles"][spec.bcp47]
        assert entry["ext"] == "vtt"
        assert entry["url"] == f"{site['url']}media/{lesson}/{spec.vtt_name(lesson)}"
    media = info.get("url") or info["formats"][-1]["url"]
    suffix = ".m4a" if lesson == AUDIO else ".mp4"
    assert media == f"{site['url']}media/{lesson}/{lesson}{suffix}"


@pytest.mark.parametrize(("lesson", "page"), PAGES)
def test_ytdlp_writes_three_files_equal_to_ours(site: dict[str, Any], tmp_path: Path,
                                                lesson: str, page: str) -> None:
    run = ytdlp_client(site["url"] + page, "--all-subs", "--skip-download",
                       "-o", "dl.%(ext)s", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = {p.name.split(".", 1)[1].removesuffix(".vtt"): p.read_bytes()
               for p in tmp_path.glob("dl.*.vtt")}
    assert sorted(written) == sorted(TAGS)
    subtitles = site["output"] / "packages" / lesson / "data" / "subtitles"
    for spec in TRACKS:
        ours = (subtitles / spec.vtt_name(lesson)).read_bytes()
        assert written[spec.bcp47] == ours, spec.key
