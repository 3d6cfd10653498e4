"""archiver.fetch.mediacopy: the media WARC's pieces copied in the kernel and hashed beside."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from archiver.fetch import mediacopy
from archiver.fetch.mediacopy import Span, write_pieces
from archiver.store import TEMP_MARK, atomic_open


def _source(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "original.mp4"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("in_kernel", [True, False])
def test_pieces_written_in_order_with_their_sha256(tmp_path: Path, in_kernel: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # several writeback and hash steps, an empty span, two ranges of one source
    monkeypatch.setattr(mediacopy, "HASH_STEP", 1 << 16)
    source, data = _source(tmp_path, 3 * (1 << 20) + 12345)
    pieces: list[mediacopy.Piece] = [b"head\r\n", Span(source, 0, 1000), b"mid",
                                     Span(source, 1000, len(data) - 1000), Span(source, 7, 0),
                                     b"\r\n\r\ntail"]
    expected = b"head\r\n" + data[:1000] + b"mid" + data[1000:] + b"\r\n\r\ntail"
    out = tmp_path / "capture-media.warc"
    with open(out, "wb") as handle:
        handle.write(b"")
        if not in_kernel:  # what a file system that refuses copy_file_range gets
            monkeypatch.delattr(os, "copy_file_range", raising=False)
        digest = write_pieces(handle.fileno(), pieces)
    assert out.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest()


def test_a_short_source_fails_and_publishes_nothing(tmp_path: Path) -> None:
    source, data = _source(tmp_path, 4096)
    out = tmp_path / "capture-media.warc"
    with pytest.raises(OSError, match="ended 100 bytes early"), atomic_open(out) as handle:
        write_pieces(handle.fileno(), [b"head", Span(source, 0, len(data) + 100)])
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]
