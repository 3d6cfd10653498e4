"""The output folder's guarantees: atomic writes, the run lock, stage records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import lock_held_elsewhere

from archiver.errors import ArchiverError, LockError
from archiver.model import Output, StageResult
from archiver.store import TEMP_MARK, Store, atomic_open, atomic_write_json, fingerprint, safe_id


def test_failed_write_leaves_previous_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half")
        raise RuntimeError("disk on fire")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_temp_names_are_recognisable(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "x.bin") as handle:
        names = [p.name for p in tmp_path.iterdir()]
        handle.write(b"1")
    assert len(names) == 1 and TEMP_MARK in names[0]


def test_second_run_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    with lock_held_elsewhere(tmp_path) as pid:
        with pytest.raises(LockError) as caught, Store(tmp_path).locked():
            pass
        assert f"pid {pid}" in str(caught.value) and "--wait" in str(caught.value)
    with Store(tmp_path).locked():  # released: a later run proceeds
        pass


def test_reusable_needs_same_fingerprint_and_intact_outputs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    out = store.stage_dir("l1", "fetch") / "original.mp4"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"12345")
    fp = fingerprint("l1", ["https://x"])
    store.save_result(StageResult(stage="fetch", lesson="l1", status="ok", fingerprint=fp,
                                  outputs=[Output("fetch/original.mp4", 5, "d")]))
    assert store.reusable("l1", "fetch", fp) is not None
    assert store.reusable("l1", "fetch", fingerprint("l1", ["https://y"])) is None
    out.write_bytes(b"123")  # truncated output: the stage must run again
    assert store.reusable("l1", "fetch", fp) is None


def test_damaged_record_means_redo(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = store.lesson_dir("l1") / "state" / "fetch.json"
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    assert store.load_result("l1", "fetch") is None


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/b", "", "A", "-x", "x" * 80])
def test_unsafe_ids_never_become_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ArchiverError):
        safe_id(bad)
    with pytest.raises(ArchiverError):
        Store(tmp_path).lesson_dir(bad)


def test_final_files_are_world_readable(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    atomic_write_json(target, {})
    assert target.stat().st_mode & 0o777 == 0o644
