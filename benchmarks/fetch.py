"""Fetch benchmarks: our fetch stage vs `curl -o` on the same loopback HTTPS URL, and the bytes
read back from files per byte downloaded.

Method (why it is fair): the loopback HTTPS server (archiver.demo.server.MediaServer with a
certificate from archiver.demo.certs) runs in its own process, so no client shares a GIL with
it; the same file and URL serve both clients; `os.sync()` before each run so no earlier file's
writeback is pending; each is run `ROUNDS` times alternately and the best time is kept (noise
on a shared 2-core machine only ever adds time). Ours is the whole fetch stage
(`archiver.fetch.stage.run` on a direct media URL under `ca:<bundle>`): transfer, sha256 and
sha512 while streaming, fsync + rename, WARC and capture.json. curl gets the CA via `--cacert`
and only writes the file, so a second reference adds `sync FILE` (the durability we give).

A third reference does the same mandatory work with the fastest standard tools, side by side
in the same rounds: `curl | tee` into two FIFOs read by `openssl dgst -sha256` and `-sha512`
(faster here than coreutils' sha256sum/sha512sum, which lack the SHA instructions; chosen
by timing both), then `sync FILE`. It tells what part of the gap to `curl -o` is the hashing.

Where the time goes (2 cores shared with the server process, Dec 2026, 512 MiB; CPU seconds
per job measured alone): curl -o is one thread doing TLS + write, CPU-bound (~0.75 s CPU =
its wall time); the server spends ~0.4 s encrypting. Our fetch must also hash sha256 (0.31 s,
SHA-NI) and sha512 (0.55 s) and write the media WARC (a second full copy, ~0.2 s of kernel
copy) and hash that file (another 0.31-0.34 s, which cannot start before the download ends:
the record header that precedes the payload carries the payload digest). Download phase:
~1.45 s client CPU + ~0.4 s server on 2 cores, so >= ~0.93 s wall (measured 0.93-1.05 s);
media WARC phase: copy and hash on two cores, >= the hash, 0.31 s (measured 0.36 s); one
ffprobe, 0.07 s. Best of 5: ours ~1.43 s vs curl 0.66-0.80 s (1.9-2.2x; CPU 2.1 s vs 0.75 s),
vs the same-work pipeline ~2.0 s (0.7x: the tee copies and pipes cost it more than our
threads). Noise: first use of fresh guest memory for page cache makes any write phase cost
up to 3x more CPU on this VM, so single rounds swing by 1 s; compare bests only.

Disk reads: `rchar` of /proc/self/io counts every byte this process passes through read()
(files, pipes). OpenSSL reads its TLS socket with read() too, so the exact file-read figure is
taken from one extra run of the same stage over plain HTTP (Python reads plain sockets with
recv(), which rchar does not count); the HTTPS rchar is reported alongside.

Run alone: `.venv/bin/python -m benchmarks.fetch [MiB]` (default 512; env
ARCHIVER_BENCH_FETCH_MB sets the size for `make bench`).
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROUNDS = 5
DEFAULT_MB = 512


def _io_counters() -> dict[str, int]:
    counters = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, _, value = line.partition(":")
        counters[key.strip()] = int(value)
    return counters


def _make_media(path: Path, size: int) -> None:
    """A real MP4 of `size` bytes: one second of ffmpeg test video (moov first, so ffprobe,
    which the fetch stage runs on every download, finds its stream from the head), then a
    `free` box of pseudo-random, incompressible bytes up to `size`."""
    import struct

    clip = path.with_name(path.name + ".clip.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=10:duration=1", "-c:v", "mpeg4",
                    "-movflags", "+faststart", str(clip)], check=True)
    head = clip.read_bytes()
    clip.unlink()
    padding = size - len(head) - 16
    if padding < 0:
        raise ValueError(f"{size} bytes is too small for the benchmark media")
    block = os.urandom(1 << 20)
    with open(path, "wb") as out:
        out.write(head)
        out.write(struct.pack(">I4sQ", 1, b"free", padding + 16))  # 64-bit box size
        while padding > 0:
            out.write(block[:padding])
            padding -= len(block)


LESSON_PAGE = (b"<!doctype html><html><head><title>Bench lesson</title></head><body>"
               b"<video controls><source src=\"media.mp4\" type=\"video/mp4\"></video>"
               b"</body></html>")


def _serve(media: Path, certs_dir: Path) -> None:
    """Child process: serve `media` at /media.mp4 and a lesson page linking it at /lesson
    (what benchmarks.fetch_process resolves) over HTTPS until stdin closes."""
    from archiver.demo.certs import make_certs
    from archiver.demo.server import MediaServer, Resource

    def resources() -> dict[str, Resource]:
        return {"/media.mp4": Resource(media, "video/mp4"),
                "/lesson": Resource(LESSON_PAGE, "text/html; charset=utf-8")}

    certs = make_certs(certs_dir, "valid")
    server = MediaServer(resources(), certs).start()
    plain = MediaServer(resources()).start()
    print(server.url("/media.mp4"), certs.ca, plain.url("/media.mp4"), flush=True)
    sys.stdin.read()
    server.stop()
    plain.stop()


def _ours(url: str, ca: Path | None, root: Path) -> tuple[float, Any, dict[str, int]]:
    from archiver.fetch.stage import run
    from archiver.log import EventLog
    from archiver.model import Bilingual, Lesson, Manifest, Series, Source, TlsPolicy
    from archiver.options import FetchOptions, Options
    from archiver.pipeline import Context
    from archiver.store import Store

    lesson = Lesson(id="bench", number=1, title=Bilingual("bench"),
                    sources=(Source(url=url, tls=TlsPolicy("ca", ca_bundle=ca)
                                    if ca else TlsPolicy()),))
    manifest = Manifest(path=root / "m.toml", series=Series("b", Bilingual(), Bilingual()),
                        lessons=(lesson,))
    shutil.rmtree(root, ignore_errors=True)
    os.sync()  # start from a clean page cache state (no other file's writeback pending)
    ctx = Context(store=Store(root), manifest=manifest,
                  log=EventLog(stream=io.StringIO(), progress=False),
                  options=Options(fetch=FetchOptions(timeout=60.0, retries=2,
                                                     max_bytes=1 << 40)), force=True)
    before = _io_counters()
    cpu = time.process_time()  # all threads of this process (network, hashers, writer)
    started = time.perf_counter()
    result = run(lesson, ctx)
    elapsed = time.perf_counter() - started
    after = _io_counters()
    counters = {k: after[k] - before[k] for k in after}
    counters["cpu_ms"] = int((time.process_time() - cpu) * 1000)
    return elapsed, result.details, counters


def _curl(url: str, ca: Path, out: Path, durable: bool = False) -> float:
    """curl -o; with `durable`, also `sync FILE` (fsync), the guarantee our fetch gives."""
    out.unlink(missing_ok=True)
    os.sync()
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "--cacert", str(ca), "-o", str(out), url],
                   check=True)
    if durable:
        subprocess.run(["sync", str(out)], check=True)
    return time.perf_counter() - started


SAME_WORK = r"""
set -euo pipefail
out=$1; ca=$2; url=$3; sha256=$4; sha512=$5
fifos=$(mktemp -d)
trap 'rm -rf "$fifos"' EXIT
mkfifo "$fifos/256" "$fifos/512"
$sha256 < "$fifos/256" > "$out.sha256" &
$sha512 < "$fifos/512" > "$out.sha512" &
curl -sS --fail --cacert "$ca" "$url" | tee "$fifos/256" "$fifos/512" > "$out"
wait
sync "$out"
"""


def _digest_tools() -> tuple[str, str]:
    """The fastest standard sha256 and sha512 commands here: `openssl dgst` uses the CPU's
    SHA instructions where coreutils' sha256sum/sha512sum may not; chosen once, by timing
    both on 64 MiB (so the reference is as fast as standard tools allow)."""
    sample = os.urandom(64 << 20)
    best: dict[str, tuple[float, str]] = {}
    for bits in ("256", "512"):
        for command in (f"sha{bits}sum", f"openssl dgst -sha{bits} -r"):
            if shutil.which(command.split()[0]) is None:
                continue
            started = time.perf_counter()
            subprocess.run(command.split(), input=sample, capture_output=True, check=True)
            took = time.perf_counter() - started
            if bits not in best or took < best[bits][0]:
                best[bits] = (took, command)
    return best["256"][1], best["512"][1]


def _same_work(url: str, ca: Path, out: Path, tools: tuple[str, str]) -> tuple[float, str]:
    """curl piped through tee into sha256 and sha512 (each its own process, so the three run
    side by side as our sink threads do), the file fsynced: the work our fetch must do with
    the fastest standard tools. Returns (seconds, the sha256 it printed)."""
    out.unlink(missing_ok=True)
    os.sync()
    started = time.perf_counter()
    subprocess.run(["bash", "-c", SAME_WORK, "same-work", str(out), str(ca), url, *tools],
                   check=True)
    elapsed = time.perf_counter() - started
    return elapsed, Path(f"{out}.sha256").read_text("ascii").split()[0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(workdir: Path) -> list[dict[str, Any]]:
    """Measure; returns rows {measure, ours_s, reference, reference_s, ratio, target}."""
    import hashlib

    size = int(os.environ.get("ARCHIVER_BENCH_FETCH_MB", DEFAULT_MB)) << 20
    workdir.mkdir(parents=True, exist_ok=True)
    media = workdir / "served.mp4"
    _make_media(media, size)
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.fetch", "--serve", str(media),
                              str(workdir / "certs")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        assert child.stdout is not None
        url, ca_name, plain_url = child.stdout.readline().split()
        ca = Path(ca_name)
        ours: list[float] = []
        theirs: list[float] = []
        durable: list[float] = []
        tls_reads: dict[str, int] = {}
        details: Any = None
        ours_cpu: list[float] = []
        curl_cpu: list[float] = []
        same: list[float] = []
        same_cpu: list[float] = []
        tools = _digest_tools()
        for _round in range(ROUNDS):
            elapsed, details, tls_reads = _ours(url, ca, workdir / "out")
            ours.append(elapsed)
            ours_cpu.append(tls_reads["cpu_ms"] / 1000)
            before = _children_cpu()
            theirs.append(_curl(url, ca, workdir / "curl.mp4"))
            curl_cpu.append(_children_cpu() - before)
            durable.append(_curl(url, ca, workdir / "curl.mp4", durable=True))
            before = _children_cpu()
            elapsed, same_sha256 = _same_work(url, ca, workdir / "same.mp4", tools)
            same_cpu.append(_children_cpu() - before)
            same.append(elapsed)
            assert same_sha256 == details.sha256, "fetch and curl | sha256 disagree"
        expected = hashlib.sha256()
        with open(workdir / "curl.mp4", "rb") as handle:
            while block := handle.read(1 << 20):
                expected.update(block)
        assert details.sha256 == expected.hexdigest(), "fetch and curl disagree"
        # plain HTTP: socket data arrives via recv() and is not in rchar, so rchar = files
        _elapsed, plain_details, reads = _ours(plain_url, None, workdir / "out")
        assert plain_details.sha256 == details.sha256
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)
    mib = size >> 20
    best, ref = min(ours), min(theirs)
    rows = [
        {"measure": f"fetch {mib} MiB loopback HTTPS (best of {ROUNDS})", "ours_s": best,
         "reference": "curl -o --cacert", "reference_s": ref, "ratio": best / ref,
         "target": "<= 1.25", "ours_all_s": ours, "reference_all_s": theirs,
         "mib_per_s": mib / best, "ours_cpu_s": min(ours_cpu), "reference_cpu_s": min(curl_cpu)},
        {"measure": f"fetch {mib} MiB vs curl + fsync (same durability)", "ours_s": best,
         "reference": "curl -o --cacert; sync FILE", "reference_s": min(durable),
         "ratio": best / min(durable), "target": "<= 1.25",
         "reference_all_s": durable},
        {"measure": "fetch vs curl + sha256sum + sha512sum + fsync (same work)",
         "ours_s": best, "reference": f"curl | tee >({tools[0]}) >({tools[1]}) > FILE; "
                                      "sync FILE", "reference_s": min(same),
         "ratio": best / min(same), "target": "(how much of the gap the hashing is)",
         "reference_all_s": same, "reference_cpu_s": min(same_cpu)},
        {"measure": "fetch: bytes read from files per byte downloaded",
         "ours_s": reads.get("rchar", 0) / size, "reference": "0 (hashing in the stream)",
         "reference_s": 0.0, "ratio": reads.get("rchar", 0) / size, "target": "0",
         "rchar_delta_plain_http": reads.get("rchar", 0),
         "read_bytes_delta_plain_http": reads.get("read_bytes", 0),
         "rchar_delta_https": tls_reads.get("rchar", 0),
         "note": "measured on a plain-HTTP run of the same stage: OpenSSL reads the TLS "
                 "socket with read(), so over HTTPS rchar also counts the network bytes; "
                 "the kernel counts copy_file_range (the media WARC's in-kernel copy of "
                 "the original, never read by Python) in rchar too, hence ~1.0"},
    ]
    return rows


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        _serve(Path(argv[1]), Path(argv[2]))
        return 0
    if argv:
        os.environ["ARCHIVER_BENCH_FETCH_MB"] = argv[0]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        for row in run(Path(tmp)):
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
