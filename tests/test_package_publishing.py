"""Crash safety of putting a new package version in place (publishing.py, record.adopt).

Each case runs the real package stage in a child process and SIGKILLs it (from inside, at an
exact step, so no `finally` and no cleanup runs, as on a power cut): right after the bag was
renamed into place but before any record was saved; after the publish journal was written but
before the swap; after the swap but before the previous version was moved to `.versions/`;
and, on a file system without RENAME_EXCHANGE, between the fallback's two renames. Checked:
the state at the kill (a current package exists, except in the fallback's documented window),
then a rerun in this process: exactly one current package (the new version, adopted, not
rebuilt), the previous version untouched in `.versions/`, no journal or staging left, the
catalog right, and a further rerun `unchanged`.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import bagit
import pytest
from test_package_helpers import context, fake_fetch, fake_subtitles, lesson

from archiver.errors import PackageError
from archiver.package import mux, publishing, stage
from archiver.package.bag import FINGERPRINT_FIELD
from archiver.store import TEMP_MARK, sha256_file

pytestmark = pytest.mark.slow  # real mkvmerge/ffmpeg muxes and BagIt builds per test

CHILD = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_package_helpers import context, lesson
from archiver.package import publishing, record, stage

out, point = Path(sys.argv[1]), sys.argv[2]
current = out / "packages" / "demo-13"

def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "after-rename":  # the bag is in place; no record of it saved yet
    record.build_result = die
elif point == "before-swap":  # the journal is written; the swap not made
    publishing._swap = die
elif point == "after-swap":  # exchanged: the previous version sits in the staging folder
    publishing._complete = die
elif point == "between-renames":  # no RENAME_EXCHANGE here: old moved out, new not yet in
    publishing._exchange = lambda a, b: False
    real = os.rename
    def rename(src, dst):
        if Path(dst) == current:
            die()
        real(src, dst)
    os.rename = rename
stage.run(lesson(), context(out, [lesson()], force=sys.argv[4] == "force"))
sys.exit(3)  # not killed: the step was never reached
"""


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _bags(out: Path) -> list[str]:
    return sorted(p.parent.relative_to(out / "packages").as_posix()
                  for p in (out / "packages").rglob("bagit.txt"))


def _kill_at(out: Path, point: str, force: bool) -> None:
    tests = Path(__file__).parent
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), point, str(tests),
                           "force" if force else "-"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def _packaged(root: Path, media: Path) -> Path:
    out = root / "out"
    ctx = context(out, [lesson()])
    fake_fetch(ctx.store, lesson(), media)
    fake_subtitles(ctx.store, lesson())
    assert stage.run(lesson(), ctx).status == "ok"
    return out


def _assert_recovered(out: Path, version: int, previous: dict[str, str] | None) -> None:
    rerun = stage.run(lesson(), context(out, [lesson()]))
    assert rerun.details is not None
    assert rerun.status == "ok" and rerun.details.version == version
    assert rerun.details.adopted  # recognised, not rebuilt
    current = out / "packages" / "demo-13"
    bagit.Bag(str(current)).validate(processes=1)
    expected = ["demo-13"]
    if previous is not None:
        expected.insert(0, ".versions/demo-13/v1")
        assert _tree(out / "packages/.versions/demo-13/v1") == previous  # untouched
        assert rerun.details.previous_version == "packages/.versions/demo-13/v1"
    assert _bags(out) == expected
    assert not publishing.journal_path(context(out, []).store, "demo-13").exists()
    assert [p for p in out.rglob("*") if TEMP_MARK in p.name] == []
    entry = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["status"] == "archived" and entry["version"] == version
    assert entry["previous_versions"] == (["packages/.versions/demo-13/v1"] if previous else [])
    for info in [v for k, v in entry["files"].items() if k != "tracks" and v]:
        assert sha256_file(out / info["path"]) == info["sha256"], info
    state = json.loads((out / "lessons/demo-13/state/package.json").read_text("utf-8"))
    assert state["details"]["version"] == version
    again = stage.run(lesson(), context(out, [lesson()]))
    assert again.details is not None
    assert again.status == "unchanged" and again.details.version == version


def test_killed_before_the_first_package_was_recorded_the_rerun_adopts_it(
        tmp_path: Path, tiny_media: Path) -> None:
    out = tmp_path / "out"
    ctx = context(out, [lesson()])
    fake_fetch(ctx.store, lesson(), tiny_media)
    fake_subtitles(ctx.store, lesson())
    _kill_at(out, "after-rename", force=False)
    assert _bags(out) == ["demo-13"]
    assert not (out / "lessons/demo-13/state/package.json").exists()
    info = bagit.Bag(str(out / "packages/demo-13")).info
    assert len(info[FINGERPRINT_FIELD]) == 64
    _assert_recovered(out, 1, None)


@pytest.mark.parametrize("point", ["after-rename", "before-swap", "after-swap",
                                   "between-renames"])
def test_killed_while_publishing_a_new_version_the_rerun_completes_it(
        tmp_path: Path, tiny_media: Path, point: str) -> None:
    out = _packaged(tmp_path, tiny_media)
    v1 = _tree(out / "packages/demo-13")
    _kill_at(out, point, force=True)  # --force: a second version from the same inputs
    current = out / "packages/demo-13"
    if point == "between-renames":  # the fallback's window; the journal closes it below
        assert not current.exists() and (out / "packages/.versions/demo-13/v1").is_dir()
    else:  # RENAME_EXCHANGE: at every instant a complete current package
        bagit.Bag(str(current)).validate(processes=1)
    if point == "after-swap":
        assert bagit.Bag(str(current)).info["Internal-Sender-Identifier"] == "demo-13/v2"
        staged = list((out / "lessons/demo-13/package").glob(".bag.tmp-*"))
        assert [_tree(s) for s in staged] == [v1]  # the previous version, not yet moved
    _assert_recovered(out, 2, v1)


def test_failed_swap_leaves_the_previous_package_and_no_journal(
        tmp_path: Path, tiny_media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _packaged(tmp_path, tiny_media)
    before = _tree(out / "packages")

    def broken(a: Path, b: Path) -> bool:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(a))

    monkeypatch.setattr(publishing, "_exchange", broken)
    with pytest.raises(PackageError, match="Input/output error"):
        stage.run(lesson(), context(out, [lesson()], force=True))
    assert _tree(out / "packages") == before
    assert not publishing.journal_path(context(out, []).store, "demo-13").exists()
    assert [p for p in out.rglob("*") if TEMP_MARK in p.name] == []


def _job() -> mux.MuxJob:
    return mux.MuxJob("mkv", Path("original.mp4"), 2, [], Path("m.ffmeta"), Path("x.mkv"))


def test_mux_failure_names_the_signal_that_killed_ffmpeg() -> None:
    text = mux.failure(_job(), -signal.SIGXFSZ, "", 4096)
    assert text.startswith("ffmpeg was killed by SIGXFSZ: file size limit exceeded "
                           "while muxing original.mp4 (mkv)"), text


def test_mux_failure_quotes_the_end_of_ffmpegs_stderr() -> None:
    stderr = "line 1\nline 2\n[matroska] Error writing\nConversion failed!\n"
    text = mux.failure(_job(), 1, stderr, 0)
    assert text == ("ffmpeg failed to mux original.mp4 (mkv): exit status 1; ffmpeg said: "
                    "line 2 | [matroska] Error writing | Conversion failed!")
