"""Hostile packages: `archiver verify` treats every bag as untrusted input (issue_15 items 1-2).

Every case is made of real things: real symlinks to a real 0600 secret, real FIFOs
(`os.mkfifo`), a real device node when this process may make one, a real Unix socket, and a
writer process that keeps appending while verify hashes. The packages themselves are made by
bagit-python (test_verify_fixity.build_bag). verify runs as a child process, as cron or systemd
run it, so a hang is caught by a generous deadline (the subprocess timeout, not a timing
assert) and stdout/stderr are exactly what a cron mail would carry.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
import pytest
from conftest import make_media
from test_verify_fixity import LESSON, build_bag, events

pytestmark = pytest.mark.slow  # `archiver verify` in child processes, each bounded at 10 s

HANG_DEADLINE = 10.0  # seconds: the bound for a run over a FIFO or /dev/zero
CHUNK = 2 << 20       # the hasher's block (archiver.verify.hashing.CHUNK)
ACCESS = f"data/access/{LESSON}.mp4"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    @property
    def package(self) -> dict[str, Any]:
        assert self.report is not None, self.stderr
        return next(p for p in self.report["packages"] if p["path"] == f"packages/{LESSON}")


def verify_command(archive: Path, report: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "archiver", "verify", "--output", str(archive), "--jobs", "2",
            "--json", str(report), *extra]


def run_verify(archive: Path, *extra: str) -> Run:
    """verify in a child process; a run still going after HANG_DEADLINE is a hang (killed)."""
    report = archive.parent / f"report-{uuid.uuid4().hex[:8]}.json"
    try:
        proc = subprocess.run(verify_command(archive, report, *extra), capture_output=True,
                              text=True, timeout=HANG_DEADLINE, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"verify {' '.join(extra)} did not finish within {HANG_DEADLINE} s: it hangs")
    data = json.loads(report.read_text("utf-8")) if report.exists() else None
    return Run(proc.returncode, proc.stdout, proc.stderr, data)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("untrusted")
    media = make_media(base / "clip.mp4", seconds=1.0)
    out = base / "output"
    build_bag(out / "packages" / LESSON, media)
    return out


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Path:
    out = tmp_path / "output"
    shutil.copytree(pristine, out, symlinks=True)
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the archive, holding what a hostile bag points at."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def regular_files(root: Path) -> list[Path]:
    """Every regular file below `root`, found without following any symlink."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return found


def write_secret(folder: Path, token: str) -> Path:
    """A 0600 file whose lines look like manifest, tag-manifest and bag-info lines, so any
    reader that follows a link to it has something to copy into its report."""
    secret = folder / "secret.txt"
    secret.write_text(f"{'a' * 128}  data/{token}\n{'b' * 64}  {token}.txt\n"
                      f"External-Identifier: {token}\nPayload-Oxum: 1.1\n{token}\n", "utf-8")
    secret.chmod(0o600)
    return secret


@pytest.mark.parametrize("name", ["manifest-sha512.txt", "tagmanifest-sha256.txt",
                                  "bag-info.txt"])
def test_symlinked_tag_file_to_a_secret_copies_it_nowhere(archive: Path, outside: Path,
                                                          name: str) -> None:
    token = f"SECRET-{uuid.uuid4().hex}"
    secret = write_secret(outside, token)
    before = secret.read_bytes()
    link = archive / "packages" / LESSON / name
    link.unlink()
    link.symlink_to(secret)
    run = run_verify(archive)
    assert token not in run.stdout and token not in run.stderr
    assert token not in json.dumps(run.report)
    for path in regular_files(archive):  # reports/, the event log, the tag manifests, ...
        assert token.encode() not in path.read_bytes(), path
    assert link.is_symlink() and link.readlink() == secret  # neither replaced nor rewritten
    assert secret.read_bytes() == before and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert run.code == 1, run.stderr
    assert run.package["outcome"] == "failed"
    assert {"path": name, "kind": "symlink"} in run.package["unsafe"]
    assert f"UNSAFE    packages/{LESSON}/{name} (symlink, not opened)" in run.stdout


def make_fifo(path: Path, _outside: Path) -> None:
    os.mkfifo(path)


def make_dev_zero_link(path: Path, _outside: Path) -> None:
    path.symlink_to("/dev/zero")


def make_device(path: Path, _outside: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("this process may not create device nodes (needs CAP_MKNOD)")


def make_socket(path: Path, _outside: Path) -> None:
    cwd = Path.cwd()
    os.chdir(path.parent)  # bind by a short relative name: socket paths are at most 107 bytes
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path.name)
    finally:
        os.chdir(cwd)


def make_link_out(path: Path, outside: Path) -> None:
    """The same bytes, outside the bag: checksums match, so only the link itself is wrong."""
    copy = outside / path.name
    shutil.copyfile(path.with_name(f".{path.name}.orig"), copy)
    path.symlink_to(copy)


UNSAFE_PAYLOADS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "symlink-out-of-the-bag": (make_link_out, "symlink"),
    "fifo": (make_fifo, "fifo"),
    "symlink-to-dev-zero": (make_dev_zero_link, "symlink"),
    "device-node": (make_device, "device"),
    "socket": (make_socket, "socket"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_PAYLOADS))
@pytest.mark.parametrize("where", [ACCESS, "bag-info.txt"])
def test_payload_or_tag_file_that_is_no_regular_file_is_reported_never_read(
        archive: Path, outside: Path, case: str, where: str) -> None:
    make, kind = UNSAFE_PAYLOADS[case]
    target = archive / "packages" / LESSON / where
    target.rename(target.with_name(f".{target.name}.orig"))
    make(target, outside)
    target.with_name(f".{target.name}.orig").rename(outside / "original")  # not in the bag
    run = run_verify(archive)  # full check: every payload byte would be read
    assert run.code == 1, run.stderr
    package = run.package
    assert package["outcome"] == "failed"
    assert package["unsafe"] == [{"path": where, "kind": kind}]
    assert where not in package["missing"]  # named once, for what it is
    assert package["changed"] == []
    assert list((archive / "reports").glob("verify-full-*.json"))
    if where == "bag-info.txt":
        assert package["lesson"] == LESSON  # from the folder name: bag-info was not read


def test_symlinked_payload_folder_is_not_entered(archive: Path, outside: Path) -> None:
    capture = archive / "packages" / LESSON / "data" / "capture"
    shutil.copytree(capture, outside / "capture")
    shutil.rmtree(capture)
    capture.symlink_to(outside / "capture", target_is_directory=True)
    run = run_verify(archive)
    assert run.code == 1 and run.package["outcome"] == "failed"
    assert run.package["unsafe"] == [{"path": "data/capture", "kind": "symlink"}]
    assert run.package["missing"] == []  # what the manifest lists below it is not "missing"


def test_deep_check_decodes_no_file_through_a_symlink(archive: Path, outside: Path) -> None:
    master = archive / "packages" / LESSON / "data" / "master" / f"{LESSON}.mkv"
    shutil.move(master, outside / master.name)
    master.symlink_to(outside / master.name)
    run = run_verify(archive, "--deep")
    assert [d["path"] for d in run.package["deep"]] == [ACCESS]  # the link was not decoded
    assert run.code == 1
    assert run.package["unsafe"] == [{"path": f"data/master/{LESSON}.mkv", "kind": "symlink"}]
    deep = run.package["deep"]
    assert [d["path"] for d in deep] == [ACCESS] and deep[0]["outcome"] == "ok"


def test_symlinked_event_log_is_neither_followed_nor_replaced(archive: Path,
                                                              outside: Path) -> None:
    bag = archive / "packages" / LESSON
    log = bag / "premis-events.jsonl"
    kept = outside / "events.jsonl"
    shutil.copyfile(log, kept)  # the very same bytes: its digest still matches
    before = kept.read_bytes()
    tagmanifests = {p.name: p.read_bytes() for p in bag.glob("tagmanifest-*.txt")}
    log.unlink()
    log.symlink_to(kept)
    run = run_verify(archive)
    assert log.is_symlink() and log.readlink() == kept
    assert kept.read_bytes() == before
    assert {p.name: p.read_bytes() for p in bag.glob("tagmanifest-*.txt")} == tagmanifests
    assert run.code == 1
    package = run.package
    assert package["outcome"] == "failed"
    assert package["unsafe"] == [{"path": "premis-events.jsonl", "kind": "symlink"}]
    assert package["event"]["recorded"] is False
    assert "symlink" in package["event"]["reason"]


def test_absurd_payload_oxum_beside_a_good_bag(archive: Path) -> None:
    bad = archive / "packages" / "demo-02"
    shutil.copytree(archive / "packages" / LESSON, bad)
    info = bad / "bag-info.txt"
    digits = "9" * 5000
    lines = [f"Payload-Oxum: {digits}.5" if line.startswith("Payload-Oxum:") else line
             for line in info.read_text("utf-8").splitlines()]
    info.write_text("\n".join(lines) + "\n", "utf-8")
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("Payload-Oxum"))
    run = run_verify(archive)
    assert run.code == 1
    assert "Traceback" not in run.stderr
    assert run.report is not None and run.report["summary"]["packages"] == 2
    outcomes = {p["path"]: p for p in run.report["packages"]}
    assert outcomes[f"packages/{LESSON}"]["outcome"] == "ok"
    damaged = outcomes["packages/demo-02"]
    assert damaged["outcome"] == "failed"
    assert f"packages/demo-02/bag-info.txt:{number}: malformed Payload-Oxum" in \
        " ".join(damaged["errors"])
    assert digits not in json.dumps(run.report) and digits not in run.stdout
    assert list((archive / "reports").glob("verify-full-*.json"))  # the report was written


def test_unknown_manifest_algorithm_fails_that_bag_only(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    shutil.copyfile(bag / "manifest-sha256.txt", bag / "manifest-foo.txt")
    run = run_verify(archive)
    assert run.code == 1 and "Traceback" not in run.stderr
    assert run.package["algorithms"] == ["sha256", "sha512"]
    assert any("manifest-foo.txt: unknown algorithm 'foo'" in e for e in run.package["errors"])


def test_unparsable_lines_are_reported_by_number_not_echoed(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    token = f"CONTENT-{uuid.uuid4().hex}"
    manifest = bag / "manifest-sha256.txt"
    lines = manifest.read_text("utf-8").splitlines()
    lines.insert(1, f"{token} is no manifest line")
    lines.append(f"{'c' * 64}  ../../{token}")  # a well-formed line naming a path out of the bag
    manifest.write_text("\n".join(lines) + "\n", "utf-8")
    info = bag / "bag-info.txt"
    info.write_text(info.read_text("utf-8") + f"{token}\n", "utf-8")
    run = run_verify(archive)
    assert f"{token} is no manifest line" not in run.stdout + run.stderr
    assert token not in " ".join(run.package["errors"])
    assert run.code == 1
    errors = run.package["errors"]
    assert f"packages/{LESSON}/manifest-sha256.txt:2: malformed or unsafe entry " \
        "(expected '<hex digest> <path inside the bag>')" in errors
    bag_info_lines = len(info.read_text("utf-8").splitlines())
    assert f"packages/{LESSON}/bag-info.txt:{bag_info_lines}: not a 'Label: value' line" in errors
    assert {"path": f"../../{token}", "kind": "outside"} in run.package["unsafe"]


GROWER = textwrap.dedent("""
    # Wait until process PID opens FILE, then keep making FILE longer (a sparse extension of
    # 256 MiB and a real 64 KiB append, over and over) until PID is gone or 60 s have passed.
    import os, sys, time
    target, pid = os.path.realpath(sys.argv[1]), int(sys.argv[2])
    deadline = time.monotonic() + 60

    def holds_open():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            return None
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return True
            except OSError:
                pass
        return False

    while time.monotonic() < deadline:
        state = holds_open()
        if state is None:
            sys.exit(0)
        if state:
            break
        time.sleep(0.0005)
    print("growing", flush=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND)
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}/fd/0"):
        os.ftruncate(fd, os.fstat(fd).st_size + (256 << 20))
        os.write(fd, b"x" * 65536)
        time.sleep(0.001)
""")


def test_file_growing_while_hashed_is_changed_not_a_hang(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    big = bag / "data" / "original" / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 48)  # 48 MiB: hashing it takes a while
    bagit.Bag(str(bag)).save(manifests=True)
    size = big.stat().st_size
    report = archive.parent / "report.json"
    proc = subprocess.Popen(verify_command(archive, report, "--no-event", "--keep", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    grower = subprocess.Popen([sys.executable, "-c", GROWER, str(big), str(proc.pid)],
                              stdout=subprocess.PIPE, text=True)
    try:
        try:
            _out, err = proc.communicate(timeout=HANG_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"verify did not finish within {HANG_DEADLINE} s: it hangs")
        assert grower.stdout is not None and grower.stdout.readline().strip() == "growing"
    finally:
        for child in (proc, grower):
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
    assert proc.returncode == 1, err
    package = json.loads(report.read_text("utf-8"))["packages"][0]
    changed = [c for c in package["changed"] if c["path"] == "data/original/big.bin"]
    assert {c["algorithm"] for c in changed} == {"sha256", "sha512"}
    assert all(c["reason"] == f"grew while being read: {size} bytes when the check began"
               for c in changed)
    assert all(c["actual"] != c["expected"] for c in changed)
    tag_bytes = sum(p.stat().st_size for p in bag.iterdir() if p.is_file())
    payload = sum(p.stat().st_size for p in (bag / "data").rglob("*")
                  if p.is_file() and p != big)
    assert package["bytes"] == payload + size  # the sizes of when the check began
    read = json.loads(report.read_text("utf-8"))["summary"]["hashed_bytes"]
    assert read <= payload + size + CHUNK + tag_bytes  # bounded: the size plus one block


def test_events_and_reports_are_never_more_open_than_their_source(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    log = bag / "premis-events.jsonl"
    log.chmod(0o600)
    (bag / "tagmanifest-sha256.txt").chmod(0o640)
    archive.chmod(0o750)
    run = run_verify(archive)
    assert run.code == 0, run.stdout + run.stderr
    assert len(events(bag)) == 2  # the event was appended
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((bag / "tagmanifest-sha256.txt").stat().st_mode) == 0o640
    stored = next((archive / "reports").glob("verify-full-*.json"))
    assert stat.S_IMODE(stored.stat().st_mode) & 0o007 == 0  # 0750 archive: nothing for others
    assert stat.S_IMODE((archive / "reports").stat().st_mode) & 0o007 == 0
    bagit.Bag(str(bag)).validate()


def test_reports_folder_symlink_is_not_written_through(archive: Path, outside: Path) -> None:
    (archive / "reports").symlink_to(outside, target_is_directory=True)
    (outside / "verify-full-20000101T000000.000000Z.json").write_text("keep me")
    run = run_verify(archive, "--keep", "1")
    assert run.code == 1
    assert "no report stored through it" in run.stderr
    assert sorted(p.name for p in outside.iterdir()) == [
        "verify-full-20000101T000000.000000Z.json"]  # nothing written, nothing pruned
    assert run.report is not None and run.report["outcome"] == "ok"  # --json still written


def test_lock_symlink_is_refused_not_truncated(archive: Path, outside: Path) -> None:
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    (archive / ".lock").symlink_to(victim)
    run = run_verify(archive)
    assert run.code == 2
    assert ".lock is a symlink" in run.stderr
    assert victim.read_text() == "precious\n"


def test_symlinked_package_folder_is_reported_not_checked(archive: Path, outside: Path) -> None:
    shutil.copytree(archive / "packages" / LESSON, outside / "demo-02")
    (archive / "packages" / "demo-02").symlink_to(outside / "demo-02", target_is_directory=True)
    run = run_verify(archive)
    assert len(events(outside / "demo-02")) == 1  # nothing appended through the link
    assert run.code == 1
    assert run.report is not None and run.report["outcome"] == "failed"
    assert [p["path"] for p in run.report["packages"]] == [f"packages/{LESSON}"]
    assert run.report["unsafe"] == [{"path": "packages/demo-02", "kind": "symlink"}]


def test_package_stage_readers_follow_no_link_and_parse_with_a_bound(archive: Path,
                                                                    outside: Path) -> None:
    """archiver.package.bag reads the package in place on every rerun (versions, adoption):
    the same rules apply there."""
    from archiver.errors import PackageError
    from archiver.package import bag as package_bag

    current = archive / "packages" / LESSON
    info = current / "bag-info.txt"
    absurd = f"Internal-Sender-Identifier: {LESSON}/v{'9' * 5000}\n"
    info.write_text(info.read_text("utf-8") + absurd, "utf-8")
    assert package_bag.version_of(current) is None  # no int() of 5000 digits
    token = f"SECRET-{uuid.uuid4().hex}"
    secret = write_secret(outside, token)
    info.unlink()
    info.symlink_to(secret)
    assert package_bag.info_of(current) == {}  # as for no bag: the link is not read
    manifest = current / "manifest-sha256.txt"
    manifest.unlink()
    manifest.symlink_to(secret)
    with pytest.raises(PackageError) as caught:
        package_bag.manifest_digests(current)
    assert "symlink" in str(caught.value) and token not in str(caught.value)
