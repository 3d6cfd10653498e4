"""archiver.safefs on real symlinks, FIFOs and folders: nothing followed, nothing blocks.

Each primitive is tried on the entries a hostile writer can plant: a symlink as the leaf, a
symlink as a *parent* component (even one that points back inside the base), a FIFO (an open
that would block for ever were it opened), a path that climbs out. Calls that could block run
in a worker thread with a generous join deadline, so a regression is a failure, not a hang.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver import safefs
from archiver.safefs import UnsafePath

DEADLINE = 10.0


def finishes(call: Callable[[], Any]) -> Any:
    """Run `call` in a thread; fail (instead of hanging) if it is not done by DEADLINE."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except (OSError, UnsafePath) as exc:  # handed back to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(DEADLINE)
    assert not worker.is_alive(), f"still blocked after {DEADLINE} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """base/ with a file, a folder, links (in and out), a FIFO; `secret` beside base/."""
    root = tmp_path / "base"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_bytes(b"inside\n")
    (tmp_path / "secret").write_bytes(b"outside\n")
    (root / "link-out").symlink_to(tmp_path / "secret")
    (root / "sub-link").symlink_to(root / "sub", target_is_directory=True)
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(root / "pipe")
    return root


def test_split_refuses_climbing_and_absolute_paths_before_any_system_call() -> None:
    assert safefs.split("a//b/./c") == ["a", "b", "c"]
    assert safefs.clean("./data/x") == "data/x"
    for bad in ("../x", "a/../../x", "/etc/passwd", "a/\0b"):
        with pytest.raises(UnsafePath) as caught:
            safefs.split(bad)
        assert caught.value.kind == "outside"
        assert safefs.clean(bad) is None
    assert safefs.clean("") is None and safefs.clean(".") is None


def test_read_follows_no_symlink_at_any_depth(base: Path) -> None:
    assert safefs.read_bytes(base, "sub/file.txt") == b"inside\n"
    cases = {"link-out": "link-out", "sub-link/file.txt": "sub-link",
             "up/secret": "up", "up/base/sub/file.txt": "up"}
    for rel, where in cases.items():
        with pytest.raises(UnsafePath) as caught:
            safefs.read_bytes(base, rel)
        assert (caught.value.path, caught.value.kind) == (where, "symlink"), rel


def test_a_fifo_is_reported_and_never_opened(base: Path) -> None:
    with pytest.raises(UnsafePath) as caught:
        finishes(lambda: safefs.read_bytes(base, "pipe"))
    assert caught.value.kind == "fifo"
    with pytest.raises(UnsafePath):
        finishes(lambda: safefs.write_file(base, "pipe", b"x", 0o644))
    assert stat.S_ISFIFO((base / "pipe").lstat().st_mode)


def test_folder_and_missing_file_are_ordinary_errors(base: Path) -> None:
    with pytest.raises(IsADirectoryError):
        safefs.read_bytes(base, "sub")
    with pytest.raises(FileNotFoundError):
        safefs.read_bytes(base, "sub/none")
    with pytest.raises(NotADirectoryError):
        safefs.read_bytes(base, "sub/file.txt/x")


def test_reads_are_bounded(base: Path) -> None:
    (base / "big").write_bytes(b"x" * 1000)
    assert len(safefs.read_bytes(base, "big", limit=1000)) == 1000
    with pytest.raises(OSError) as caught:
        safefs.read_bytes(base, "big", limit=999)
    assert caught.value.errno == errno.EFBIG


def test_walk_names_every_entry_and_enters_no_link(base: Path) -> None:
    seen = {(e.path, e.kind) for e in finishes(lambda: list(safefs.walk(base)))}
    assert seen == {("sub", "directory"), ("sub/file.txt", "file"), ("link-out", "symlink"),
                    ("sub-link", "symlink"), ("up", "symlink"), ("pipe", "fifo")}


def test_walk_stops_at_the_depth_bound(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 6)
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"")
    seen = [(e.path, e.kind) for e in safefs.walk(tmp_path, max_depth=3)]
    assert seen == [("d", "directory"), ("d/d", "directory"), ("d/d/d", "directory"),
                    ("d/d/d/d", "other")]


def test_write_replaces_regular_files_only_and_keeps_their_mode(base: Path) -> None:
    target = base / "sub" / "file.txt"
    target.chmod(0o600)
    like = target.stat()
    safefs.write_file(base, "sub/file.txt", b"new\n", 0o644, like=like)
    assert target.read_bytes() == b"new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in (base / "sub").iterdir() if ".tmp-" in p.name]
    with pytest.raises(UnsafePath) as caught:
        safefs.write_file(base, "link-out", b"pwned", 0o644)
    assert caught.value.kind == "symlink"
    assert (base / "link-out").is_symlink()
    assert (base.parent / "secret").read_bytes() == b"outside\n"
    with pytest.raises(UnsafePath):
        safefs.write_file(base, "sub-link/new.txt", b"x", 0o644)
    assert not (base / "sub" / "new.txt").exists()


def test_new_files_and_folders_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        safefs.makedirs(tmp_path, "a/b", 0o777)
        safefs.write_file(tmp_path, "a/b/report.json", b"{}", 0o666)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "a" / "b" / "report.json").stat().st_mode) == 0o640
    assert safefs.file_mode_for((tmp_path / "a").stat()) == 0o640


def test_makedirs_and_unlink_do_not_pass_through_links(base: Path) -> None:
    with pytest.raises(UnsafePath):
        safefs.makedirs(base, "up/evil", 0o755)
    assert not (base.parent / "evil").exists()
    safefs.unlink(base, "link-out")  # removes the link itself
    assert not (base / "link-out").exists() and (base.parent / "secret").exists()
