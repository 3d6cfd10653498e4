"""The streaming hasher: exact digests at every chunk boundary, errors kept per file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from archiver.verify.hashing import CHUNK, HashTask, hash_file, hash_many

SIZES = (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7)


def test_one_pass_digests_equal_hashlib_at_chunk_boundaries(tmp_path: Path) -> None:
    tasks = []
    for size in SIZES:
        path = tmp_path / f"f{size}"
        path.write_bytes(os.urandom(size))
        tasks.append(HashTask(tmp_path, path.name, ("sha256", "sha512"), size))
    seen: list[int] = []
    results = hash_many(tasks, jobs=2, progress=seen.append, progress_step=1)
    for task in tasks:
        data = task.path.read_bytes()
        result = results[task.path]
        assert result.error is None and result.bytes == len(data)
        assert result.digests == {"sha256": hashlib.sha256(data).hexdigest(),
                                  "sha512": hashlib.sha512(data).hexdigest()}
    assert seen == sorted(seen)  # progress is monotonic even from two threads
    assert seen[-1] == sum(SIZES) and len(seen) > len(SIZES)


def test_unreadable_file_is_a_result_not_an_exception(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"abc")
    (tmp_path / "folder").mkdir()
    results = hash_many([HashTask(tmp_path, "folder", ("sha256",), 0),
                         HashTask(tmp_path, "good", ("sha256",), 3),
                         HashTask(tmp_path, "gone", ("sha256",), 0)], jobs=2)
    folder = results[tmp_path / "folder"]
    assert folder.error is not None and "IsADirectoryError" in folder.error
    gone = results[tmp_path / "gone"].error
    assert gone is not None and gone.startswith("FileNotFoundError")
    assert results[good].digests["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert hash_file(tmp_path, "good", ["sha256"], 3, chunk=1).digests == results[good].digests


def test_reads_stop_one_block_past_the_size_seen_at_the_start(tmp_path: Path) -> None:
    """BagIt manifests hold no sizes: the size lstat saw is the bound, so a file longer than
    that (it grew since) is read to at most that size plus one block and flagged `grew`."""
    path = tmp_path / "grown"
    path.write_bytes(os.urandom(10 * 4096))
    result = hash_file(tmp_path, "grown", ["sha256"], 4096, chunk=4096)
    assert result.grew is True and result.bytes == 2 * 4096
    exact = hash_file(tmp_path, "grown", ["sha256"], 10 * 4096, chunk=4096)
    assert exact.grew is False and exact.bytes == 10 * 4096
    assert exact.digests["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_symlink_is_not_hashed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"abc")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = hash_file(tmp_path, "link", ["sha256"], 3)
    assert result.unsafe == "symlink" and result.digests == {} and result.bytes == 0
