"""Peak memory of `archiver fetch` and `archiver verify` on a 2 GB media file (target < 100 MB).

The file: an MP4 `ftyp` box followed by 2 GiB of pseudo-random bytes (a 16 MiB random block
repeated with a changing counter: written in seconds, incompressible, and fetch's media check
accepts it by its signature and `video/mp4` type; no stage here decodes it). It is served by
the project's loopback HTTPS server (archiver.demo.server.MediaServer, a pinned demo
certificate) as a direct media URL, and fetched by the real command in a child process. The
fetched file is then hard-linked into a BagIt package (sha256 + sha512 manifests written from
the digests the fetch recorded, so building the bag hashes nothing) and `archiver verify`
checks it in full.

Peak memory is each command's maximum resident set size from GNU time (`/usr/bin/time -f %M`)
rather than `getrusage(RUSAGE_CHILDREN)`: the latter is the maximum over every child this
process ever waited for, and a forked child's RSS includes the parent's pages before exec.
The reference, measured in the same run on the same bytes, is `curl` downloading the same URL
(`-k -o`) for fetch and `sha256sum` for verify: what a single-purpose streaming C tool needs.
In these rows `ours_s` and `reference_s` hold megabytes (MB = 10^6 bytes), not seconds.

Run alone: `.venv/bin/python -m benchmarks --only memory` (needs ~6 GB free in the workdir).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from archiver.demo.manifest import render_manifest

SIZE = 2 << 30          # 2 GiB of payload
BLOCK = 16 << 20
LIMIT_MB = 100.0
TIMEOUT = 1800.0
HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def make_media(path: Path, size: int = SIZE) -> None:
    base = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as out:
        out.write(HEAD)
        written = len(HEAD)
        while written < size:
            base[:8] = written.to_bytes(8, "little")  # no two blocks alike
            chunk = bytes(base[: min(BLOCK, size - written)])
            out.write(chunk)
            written += len(chunk)


def peak(command: list[str], scratch: Path) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stderr tail) of one run of `command` under GNU time."""
    report = scratch / "time.txt"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    kib = int(report.read_text().split()[-1])
    return kib * 1024 / 1e6, seconds, proc.stderr[-500:]


def _manifest(path: Path, url: str, pin: str) -> None:
    path.write_text(render_manifest([{"id": "big", "sources": [
        {"url": url, "kind": "mirror", "tls": f"pin:sha256:{pin}"}]}],
        series_id="memory-bench"), "utf-8")


def _bag(output: Path, fetched: Path, sha256: str, sha512: str) -> None:
    """A BagIt package around the fetched file (hard link), manifests from recorded digests."""
    import hashlib

    bag = output / "packages" / "big"
    payload = bag / "data" / "original" / fetched.name
    payload.parent.mkdir(parents=True)
    os.link(fetched, payload)
    rel = f"data/original/{fetched.name}"
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "bag-info.txt").write_text(f"Payload-Oxum: {payload.stat().st_size}.1\n"
                                      "External-Identifier: big\n")
    (bag / "premis-events.jsonl").write_text("")
    (bag / "manifest-sha256.txt").write_text(f"{sha256}  {rel}\n")
    (bag / "manifest-sha512.txt").write_text(f"{sha512}  {rel}\n")
    tags = sorted(p.name for p in bag.iterdir() if p.is_file())
    for alg in ("sha256", "sha512"):
        lines = [f"{hashlib.new(alg, (bag / n).read_bytes()).hexdigest()} {n}\n" for n in tags]
        (bag / f"tagmanifest-{alg}.txt").write_text("".join(lines))


def _row(measure: str, ours: float, reference: str, ref: float, **extra: Any) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 1), "reference": reference,
            "reference_s": round(ref, 1), "ratio": round(ours / ref, 2) if ref else None,
            "target": f"ours < {LIMIT_MB:.0f} MB", "met": ours < LIMIT_MB, "unit": "MB",
            **extra}


def run(workdir: Path) -> list[dict[str, Any]]:
    from archiver.demo.certs import cached_certs
    from archiver.demo.server import MediaServer, Resource

    if not Path("/usr/bin/time").exists():
        raise RuntimeError("GNU time (/usr/bin/time, Debian package `time`) is needed")
    media = workdir / "big.mp4"
    if not media.is_file() or media.stat().st_size != SIZE:
        make_media(media)
    certs, _ = cached_certs(workdir / "certs", "expired-untrusted")
    server = MediaServer({"/media/big.mp4": Resource(media, "video/mp4")}, certs).start()
    output = workdir / "archive"
    try:
        shutil.rmtree(output, ignore_errors=True)
        manifest = workdir / "big.toml"
        url = server.url("/media/big.mp4")
        _manifest(manifest, url, certs.fingerprint)
        fetch_mb, fetch_s, _ = peak([sys.executable, "-m", "archiver", "fetch", "--manifest",
                                     str(manifest), "--output", str(output), "--jobs", "1",
                                     "--max-bytes", str(4 << 30), "--timeout", "60"], workdir)
        copy = workdir / "curl.mp4"
        curl_mb, curl_s, _ = peak(["curl", "-sS", "-k", "-o", str(copy), url], workdir)
        copy.unlink(missing_ok=True)
    finally:
        server.stop()
    record = json.loads((output / "lessons" / "big" / "state" / "fetch.json").read_text())
    fetched = output / "lessons" / "big" / record["details"]["media"]
    if fetched.stat().st_size != SIZE:
        raise RuntimeError(f"fetch wrote {fetched.stat().st_size} bytes of {SIZE}")
    _bag(output, fetched, record["details"]["sha256"], record["details"]["sha512"])
    verify_mb, verify_s, _ = peak([sys.executable, "-m", "archiver", "verify", "--output",
                                   str(output), "--jobs", "2", "--no-event", "--keep", "0"],
                                  workdir)
    sum_mb, sum_s, _ = peak(["sha256sum", str(fetched)], workdir)
    gb = SIZE / 1e9
    return [
        _row(f"fetch peak RSS, {gb:.1f} GB media (MB)", fetch_mb, "curl -k -o, same URL",
             curl_mb, wall_s=round(fetch_s, 2), reference_wall_s=round(curl_s, 2)),
        _row(f"verify peak RSS, {gb:.1f} GB bag (MB)", verify_mb, "sha256sum, same file",
             sum_mb, wall_s=round(verify_s, 2), reference_wall_s=round(sum_s, 2)),
    ]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/archiver-bench-memory")
    target.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(target), indent=2))
