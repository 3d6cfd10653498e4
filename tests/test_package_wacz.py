"""The package's WACZ of the capture, and an unchanged rerun that reads no capture file.

The WACZ is judged by webrecorder's own `wacz validate` (structure, datapackage.json, every
file's hash); its pages list must name the lesson page; both WARCs are inside it, the media
one stored as it is. The fetch record's digests are what the package fingerprint uses, so a
rerun with nothing changed hashes neither WARC (the media WARC is as large as the media).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import pytest
from clients import wacz_validate, warcio_check
from test_package_helpers import context, fake_fetch, fake_subtitles, lesson

from archiver.package import inputs as package_inputs
from archiver.package import stage
from archiver.store import Store, sha256_file

pytestmark = pytest.mark.slow  # a lesson packaged for real, its WACZ validated


@pytest.fixture
def packaged(tmp_path: Path, tiny_media: Path) -> tuple[Path, Path]:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item)
    result = stage.run(item, ctx)
    assert result.status == "ok"
    assert result.details is not None and result.details.files is not None
    assert result.details.files.wacz is not None
    assert result.details.files.wacz.path == f"packages/{item.id}/data/capture/capture.wacz"
    return tmp_path / "out", tmp_path / "out" / "packages" / item.id / "data" / "capture"


def test_wacz_validates_and_holds_both_warcs_and_the_lesson_page(
        packaged: tuple[Path, Path]) -> None:
    _out, capture = packaged
    verdict = wacz_validate(capture / "capture.wacz")
    assert verdict.ok, verdict.output
    with zipfile.ZipFile(capture / "capture.wacz") as archive:
        names = set(archive.namelist())
        assert {"archive/capture.warc.gz", "archive/capture-media.warc", "datapackage.json",
                "pages/pages.jsonl", "indexes/index.cdx.gz"} <= names
        media = archive.getinfo("archive/capture-media.warc")
        assert media.compress_type == zipfile.ZIP_STORED  # video is not deflated again
        pages = [json.loads(line) for line in
                 archive.read("pages/pages.jsonl").decode("utf-8").splitlines()]
    assert pages[0]["format"] == "json-pages-1.0"
    item = lesson()
    assert [p["url"] for p in pages[1:]] == [item.sources[0].url]
    assert item.title.zh in pages[1]["title"]
    assert not (capture / "capture-media.warc").exists()  # its one copy is in the WACZ
    for warc in (capture / "capture.warc.gz",):
        assert warcio_check(warc).ok


def test_unchanged_rerun_reads_no_capture_file(packaged: tuple[Path, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out, _capture = packaged
    hashed: list[str] = []
    real = sha256_file

    def spy(path: Path) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(package_inputs, "sha256_file", spy)
    item = lesson()
    ctx = context(out, [item])
    result = stage.run(item, ctx)
    assert result.status == "unchanged"
    assert hashed == []  # neither the WARCs nor any subtitle file was read to fingerprint it
    # a capture file whose size no longer matches its record is hashed (not trusted)
    warc = Store(out).stage_dir(item.id, "fetch") / "capture-media.warc"
    with open(warc, "ab") as handle:
        handle.write(b"\r\n")
    package_inputs.gather(item, ctx.manifest.series, ctx.store)
    assert hashed == ["capture-media.warc"]


def test_a_capture_from_before_replayable_warcs_is_packaged_without_a_wacz(
        tmp_path: Path, tiny_media: Path) -> None:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fetched = fake_fetch(ctx.store, item, tiny_media)
    assert fetched.details is not None
    # the shape an older fetch recorded: one WARC, no media WARC
    (ctx.store.stage_dir(item.id, "fetch") / "capture-media.warc").unlink()
    ctx.store.save_result(dataclasses.replace(
        fetched, details=dataclasses.replace(fetched.details, warc_media=None),
        outputs=[o for o in fetched.outputs if not o.path.endswith("capture-media.warc")]))
    fake_subtitles(ctx.store, item)
    result = stage.run(item, ctx)
    assert result.status == "ok"
    capture = tmp_path / "out" / "packages" / item.id / "data" / "capture"
    assert sorted(p.name for p in capture.iterdir()) == ["capture.json", "capture.warc.gz"]
    assert result.details is not None and result.details.files is not None
    assert result.details.files.wacz is None
    assert any("predates replayable WARCs" in w for w in result.warnings), result.warnings
