"""The package stage's inputs: the files the fetch and subtitles records name, checked.

A record is data anyone who can write into the archive can edit. The package stage must copy
only files inside the lesson's folder: a record naming `../`, an absolute path, a symlink (or
a symlinked folder) that leads out of the lesson, or a missing file is refused with an error
naming the record and the key; a symlink that stays inside the lesson is followed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_package_helpers import SERIES, fake_fetch, fake_subtitles, lesson

from archiver.errors import PackageError
from archiver.model import FetchDetails, Lesson, SubtitlesDetails
from archiver.package.inputs import gather
from archiver.store import Store


def _archive(tmp_path: Path) -> tuple[Store, Lesson]:
    store = Store(tmp_path / "out")
    item = lesson("l1")
    media = tmp_path / "media.mp4"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    fake_fetch(store, item, media)
    fake_subtitles(store, item)
    return store, item


def _rename_media(store: Store, media: str) -> None:
    result = store.load_details("l1", FetchDetails)
    assert result is not None and result.details is not None
    store.save_result(dataclasses.replace(
        result, details=dataclasses.replace(result.details, media=media)))


def test_the_recorded_files_are_found_and_the_fingerprint_is_stable(tmp_path: Path) -> None:
    store, item = _archive(tmp_path)
    inputs = gather(item, SERIES, store)
    assert inputs is not None
    assert inputs.media == store.lesson_dir("l1").resolve() / "fetch" / inputs.media.name
    assert len(inputs.tracks) == 3 and inputs.chapters
    again = gather(item, SERIES, store)
    assert again is not None and again.fingerprint == inputs.fingerprint


def test_a_named_file_of_another_size_than_recorded_is_hashed_again(tmp_path: Path) -> None:
    """The recorded digests stand in for hashing only while each file has its recorded size;
    a file changed behind the records' back with another size changes the fingerprint."""
    store, item = _archive(tmp_path)
    before = gather(item, SERIES, store)
    assert before is not None
    track = before.tracks[0].path
    track.write_text(track.read_text("utf-8") + "\nNOTE changed\n", "utf-8")
    after = gather(item, SERIES, store)
    assert after is not None and after.fingerprint != before.fingerprint


@pytest.mark.parametrize("hostile", ["../../../etc/passwd", "/etc/passwd", "fetch/../../x.mp4",
                                     "fetch/missing.mp4", "fetch", "", "fetch/original.mp4\0x",
                                     "fetch\0/original.mp4", "fetch/" + "x" * 300])
def test_a_record_naming_a_file_outside_or_missing_is_refused(tmp_path: Path,
                                                              hostile: str) -> None:
    store, item = _archive(tmp_path)
    _rename_media(store, hostile)
    with pytest.raises(PackageError) as caught:
        gather(item, SERIES, store)
    assert caught.value.where.key == "media"
    assert caught.value.where.file is not None and str(caught.value.where.file).endswith(
        "state/fetch.json")


def test_a_symlink_out_of_the_lesson_is_refused_one_inside_is_followed(tmp_path: Path) -> None:
    store, item = _archive(tmp_path)
    fetch_dir = store.stage_dir("l1", "fetch")
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    (fetch_dir / "out.mp4").symlink_to(secret)
    _rename_media(store, "fetch/out.mp4")
    with pytest.raises(PackageError, match="outside the lesson"):
        gather(item, SERIES, store)
    original = next(fetch_dir.glob("original.*"))
    (fetch_dir / "alias.mp4").symlink_to(original.name)
    _rename_media(store, "fetch/alias.mp4")
    inputs = gather(item, SERIES, store)
    assert inputs is not None and inputs.media == original.resolve()


def test_a_symlinked_folder_out_of_the_lesson_is_refused(tmp_path: Path) -> None:
    store, item = _archive(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.vtt").write_text("WEBVTT\n", "utf-8")
    (store.lesson_dir("l1") / "evil").symlink_to(elsewhere)
    result = store.load_details("l1", SubtitlesDetails)
    assert result is not None and result.details is not None
    tracks = {**result.details.tracks, "en": "evil/x.vtt"}
    store.save_result(dataclasses.replace(
        result, details=dataclasses.replace(result.details, tracks=tracks)))
    with pytest.raises(PackageError, match="outside the lesson") as caught:
        gather(item, SERIES, store)
    assert caught.value.where.key == "details.tracks.en"
