"""BagIt 1.0 (RFC 8493): the package stage's bags, judged by bagit-python and bagit-utils.

bagit-python writes 0.97; the package stage declares 1.0 itself (bag.declare_1_0) and keeps
the tag manifests consistent. bagit-utils runs its format checks only on the byte-exact 1.0
declaration, so "no messages" from it means every check ran and passed. Bags written before
(0.97, as bagit-python makes them) must still verify.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from clients import BAGIT_1_0, bagit_python_validate, bagit_utils_validate
from test_package_helpers import context, fake_fetch, fake_subtitles, lesson
from test_verify_fixity import build_bag

from archiver.cli import main
from archiver.package import bag, stage

pytestmark = pytest.mark.slow  # a lesson packaged for real, two bag validators


@pytest.fixture
def package(tmp_path: Path, tiny_media: Path) -> Path:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item)
    assert stage.run(item, ctx).status == "ok"
    return tmp_path / "out" / "packages" / item.id


def _tagmanifest(bag_dir: Path, algorithm: str) -> dict[str, str]:
    lines = (bag_dir / f"tagmanifest-{algorithm}.txt").read_text("utf-8").splitlines()
    return {name: digest for digest, _, name in (line.partition(" ") for line in lines)}


def test_bag_declares_bagit_1_0_byte_exactly(package: Path) -> None:
    assert (package / "bagit.txt").read_bytes() == BAGIT_1_0 == bag.BAGIT_DECLARATION


def test_tag_manifests_cover_every_tag_file_with_its_current_digest(package: Path) -> None:
    tag_files = {p.relative_to(package).as_posix() for p in package.iterdir()
                 if p.is_file() and not p.name.startswith("tagmanifest-")}
    assert {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
            "premis-events.jsonl"} <= tag_files
    for algorithm in ("sha256", "sha512"):
        listed = _tagmanifest(package, algorithm)
        assert set(listed) == tag_files, algorithm
        for name, digest in listed.items():
            assert hashlib.new(algorithm, (package / name).read_bytes()).hexdigest() == digest


def test_bagit_python_validates_without_errors_or_warnings(package: Path) -> None:
    verdict = bagit_python_validate(package)
    assert verdict.ok, verdict.errors
    assert verdict.warnings == []


def test_bagit_utils_validates_without_any_message(package: Path) -> None:
    verdict = bagit_utils_validate(package)
    assert verdict.ok, verdict.messages
    assert verdict.messages == []


def test_bagit_utils_notices_a_damaged_1_0_bag(package: Path) -> None:
    """The validator is not vacuous on our bags: a flipped payload byte is reported."""
    target = next((package / "data" / "subtitles").glob("*.en.vtt"))
    target.write_bytes(target.read_bytes().replace(b"Digital", b"Digitai", 1))
    utils = bagit_utils_validate(package)
    assert not utils.ok and utils.messages
    assert not bagit_python_validate(package).ok


def test_verify_accepts_a_1_0_package_and_an_old_0_97_bag(package: Path, tmp_path: Path,
                                                          tiny_media: Path) -> None:
    output = package.parent.parent
    old = build_bag(output / "packages" / "old-0-97", tiny_media, lesson="old-0-97")
    assert (old / "bagit.txt").read_bytes().startswith(b"BagIt-Version: 0.97\n")
    assert bagit_python_validate(old).ok
    report = tmp_path / "verify.json"
    assert main(["verify", "--output", str(output), "--json", str(report)]) == 0
    # verify appended its events and rewrote the tag manifests: both bags stay valid,
    # and neither declaration was touched
    assert (package / "bagit.txt").read_bytes() == BAGIT_1_0
    assert (old / "bagit.txt").read_bytes().startswith(b"BagIt-Version: 0.97\n")
    for bag_dir in (package, old):
        verdict = bagit_python_validate(bag_dir)
        assert verdict.ok, (bag_dir, verdict.errors)
    assert bagit_utils_validate(package).messages == []
