"""`archiver verify` throughput and memory against sha256sum / openssl on the same files.

What is fair to compare: `sha256sum` and `openssl dgst -sha256` compute one sha256 per file,
sequentially, in one process. So the headline comparison runs verify over a copy of the
archive whose bags carry only `manifest-sha256.txt`: the same bytes, the same digest, one read
each. `--jobs 1` against openssl is the single-stream comparison (target ≥ 0.8×); `--jobs 2`
(this machine's cores) against openssl shows what parallel files buy. The default full check of
a bag with sha256 AND sha512 manifests computes both digests in one read; its reference is the
sum of the two single-digest tools (sha256sum + sha512sum, openssl -sha256 + -sha512), which is
what an archivist would otherwise run. Every timing is the whole command (interpreter start,
walking the bags, tag files, report), best of `REPEAT`, with the files in the page cache (the
first untimed pass warms it), so the figures compare CPU work, not the disk.

Peak memory is the child's maximum RSS from `os.wait4`, for the verify process alone.
In rows whose measure is a memory figure, `ours_s`/`reference_s` hold megabytes, not seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = 4
FILES_PER_PACKAGE = 2
FILE_MIB = 272            # 4 × 2 × 272 MiB = 2176 MiB ≈ 2.28 GB of payload
REPEAT = 3
BLOCK = 16 << 20


def _write_payload(path: Path, size: int, seed: int) -> dict[str, str]:
    """Pseudo-random bytes (content does not change hash speed); digests computed on the way."""
    digests = {"sha256": hashlib.sha256(), "sha512": hashlib.sha512()}
    base = bytearray(os.urandom(BLOCK))
    written = 0
    with open(path, "wb") as handle:
        while written < size:
            base[:8] = (seed * 1_000_003 + written).to_bytes(8, "little")
            block = bytes(base[: min(BLOCK, size - written)])
            handle.write(block)
            for digest in digests.values():
                digest.update(block)
            written += len(block)
    return {name: d.hexdigest() for name, d in digests.items()}


def _tagmanifest(bag: Path, algs: list[str]) -> None:
    names = sorted(p.name for p in bag.iterdir()
                   if p.is_file() and not p.name.startswith("tagmanifest-"))
    for alg in algs:
        lines = [f"{hashlib.new(alg, (bag / n).read_bytes()).hexdigest()} {n}" for n in names]
        (bag / f"tagmanifest-{alg}.txt").write_text("\n".join(lines) + "\n")


def _write_bag(bag: Path, entries: dict[str, dict[str, str]], sizes: dict[str, int],
               algs: list[str]) -> None:
    bag.mkdir(parents=True, exist_ok=True)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "bag-info.txt").write_text(
        f"Payload-Oxum: {sum(sizes.values())}.{len(sizes)}\nExternal-Identifier: {bag.name}\n")
    (bag / "premis-events.jsonl").write_text("")
    for alg in algs:
        (bag / f"manifest-{alg}.txt").write_text(
            "".join(f"{d[alg]}  {p}\n" for p, d in sorted(entries.items())))
    _tagmanifest(bag, algs)


def build_archives(workdir: Path) -> tuple[Path, Path, list[Path]]:
    """Two archive folders over the same payload (hard links): sha256-only and sha256+sha512."""
    single, dual = workdir / "sha256-only", workdir / "sha256-sha512"
    files: list[Path] = []
    size = FILE_MIB << 20
    for p in range(PACKAGES):
        name = f"bench-{p:02d}"
        payload_dir = single / "packages" / name / "data" / "master"
        payload_dir.mkdir(parents=True, exist_ok=True)
        entries: dict[str, dict[str, str]] = {}
        sizes: dict[str, int] = {}
        for f in range(FILES_PER_PACKAGE):
            rel = f"data/master/part-{f}.bin"
            path = single / "packages" / name / rel
            marker = workdir / "digests" / name / f"part-{f}.txt"  # outside the bag
            marker.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size == size and marker.exists():
                digests = dict(line.split(" ", 1) for line in marker.read_text().splitlines())
            else:
                digests = _write_payload(path, size, p * 100 + f)
                marker.write_text("".join(f"{k} {v}\n" for k, v in digests.items()))
            entries[rel], sizes[rel] = digests, size
            files.append(path)
            twin = dual / "packages" / name / rel
            twin.parent.mkdir(parents=True, exist_ok=True)
            if not twin.exists():
                os.link(path, twin)
        _write_bag(single / "packages" / name, entries, sizes, ["sha256"])
        _write_bag(dual / "packages" / name, entries, sizes, ["sha256", "sha512"])
    return single, dual, files


def timed(command: list[str], scratch: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one run of `command`.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`), not from this process's wait4: a
    forked child's ru_maxrss includes the parent's pages from before exec, which would charge
    the benchmark's own memory to the command measured.
    """
    out = scratch / "time.txt"
    wrapped = (["/usr/bin/time", "-f", "%M %U %S", "-o", str(out), *command]
               if Path("/usr/bin/time").exists() else command)
    start = time.perf_counter()
    proc = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    if wrapped is command:
        return seconds, float("nan"), float("nan")
    rss_kib, user, system = out.read_text().split()[-3:]
    return seconds, float(user) + float(system), int(rss_kib) / 1024


def measure_all(commands: dict[str, list[str]], scratch: Path,
                repeat: int | None = None) -> dict[str, tuple[float, float, float]]:
    """Best wall time (and its CPU time, max RSS) of each command over interleaved rounds.

    Rounds interleave the commands (A B C, A B C, ...) so that load from other processes on a
    shared machine falls on every command alike, and the minimum discards disturbed runs.
    """
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(repeat or REPEAT):
        for name, command in commands.items():
            runs[name].append(timed(command, scratch))
    result = {}
    for name, samples in runs.items():
        fastest = min(samples, key=lambda r: r[0])
        result[name] = (fastest[0], fastest[1], max(r[2] for r in samples))
    return result


def verify_command(output: Path, jobs: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "archiver", "verify", "--output", str(output),
            "--jobs", str(jobs), "--no-event", "--keep", "0", *extra]


def row(measure: str, ours: float, reference: str, reference_s: float, target: str,
        met: bool, **extra: Any) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(reference_s, 3), "ratio": round(reference_s / ours, 3),
            "target": target, "met": met, **extra}


def run(workdir: Path) -> list[dict[str, Any]]:
    single, dual, files = build_archives(workdir)
    names = [str(f) for f in files]
    total = sum(f.stat().st_size for f in files)
    gb = total / 1e9
    subprocess.run(["cat", *names], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    m = measure_all({
        "sha256sum": ["sha256sum", *names],
        "sha512sum": ["sha512sum", *names],
        "openssl256": ["openssl", "dgst", "-sha256", *names],
        "openssl512": ["openssl", "dgst", "-sha512", *names],
        "ours1": verify_command(single, 1),
        "ours2": verify_command(single, 2),
        "dual2": verify_command(dual, 2),
        "fast": verify_command(dual, 2, "--fast"),
    }, workdir)
    wall = {k: v[0] for k, v in m.items()}
    cpu = {k: round(v[1], 3) for k, v in m.items()}
    info = {"bytes": total, "files": len(files), "cpu_s": cpu}

    def speed(key: str) -> dict[str, float]:
        return {"gb_per_s": round(gb / wall[key], 3)}

    rows = [
        row("verify sha256 --jobs 1 vs sha256sum", wall["ours1"], "sha256sum",
            wall["sha256sum"], "ratio > 1 (faster)", wall["sha256sum"] > wall["ours1"],
            **speed("ours1"), **info),
        row("verify sha256 --jobs 1 vs openssl", wall["ours1"], "openssl dgst -sha256",
            wall["openssl256"], "ratio >= 0.8", wall["openssl256"] / wall["ours1"] >= 0.8,
            **speed("ours1"), **info),
        row("verify sha256 --jobs 2 vs openssl", wall["ours2"], "openssl dgst -sha256",
            wall["openssl256"], "ratio > 1 (parallel beats it)",
            wall["openssl256"] > wall["ours2"], **speed("ours2"), **info),
        row("verify sha256+512 --jobs 2 (full default)", wall["dual2"], "sha256sum + sha512sum",
            wall["sha256sum"] + wall["sha512sum"], "ratio > 1",
            wall["sha256sum"] + wall["sha512sum"] > wall["dual2"], **speed("dual2"), **info),
        row("verify sha256+512 --jobs 2 vs openssl x2", wall["dual2"],
            "openssl -sha256 + -sha512", wall["openssl256"] + wall["openssl512"],
            "informational", True, **speed("dual2"), **info),
        row("verify --fast (Payload-Oxum + tags)", wall["fast"], "verify full, --jobs 2",
            wall["dual2"], "informational", True, **info),
    ]
    peak = max(m["ours1"][2], m["ours2"][2], m["dual2"][2])
    rows.append(row("verify peak RSS, MB (ours_s/ref_s in MB)", peak, "limit 100 MB", 100.0,
                    "ratio > 1 (under 100 MB)", peak < 100, unit="MB",
                    per_run={k: round(m[k][2], 1) for k in ("ours1", "ours2", "dual2", "fast")},
                    reference_rss_mb={k: round(m[k][2], 1)
                                      for k in ("sha256sum", "openssl256")}))
    return rows


if __name__ == "__main__":
    import json

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/archiver-bench-verify")
    target.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(target), indent=2))
