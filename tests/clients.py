"""Third-party clients that judge archiver's outputs: one small function per client.

The project's rule is "test on inputs you did not design, with clients you did not write".
Each function here runs one real client (the W3C WebVTT parser, bagit-python, bagit-utils,
MediaConch, MKVToolNix, warcio, wacz, pywb, yt-dlp) and returns its verdict as data, never
raising on a verdict, so that a test can assert on the details ("no errors", "this warning",
"that track refused"). They raise `ClientMissing` only when a client is not installed at all:
`make test` (scripts/install-test-clients.sh) installs every one of them.

Where a client can pass without having checked anything (a Matroska check on a file that is
not Matroska, a bag whose declaration makes bagit-utils skip checks, a WebVTT file with no
cues), the result says so, so that a test cannot pass vacuously.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "tools"
JS = TOOLS / "js"
PYWB_BIN = ROOT / ".venv-tools" / "pywb" / "bin"
PROJECT_BIN = Path(sys.executable).parent
BAGIT_1_0 = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MC_NS = {"mc": "https://mediaarea.net/mediaconch"}
# Debian's MediaConch 23.03 predates Matroska's BCP 47 language elements and reports them as
# elements in the wrong parent; that one finding is waived (issue_11 item 2), nothing else:
# `LanguageIETF` of a track and its chapter twin `ChapLanguageIETF` (mkvmerge writes one,
# `und`, beside every ChapLanguage), added to the Matroska spec together (docs/package.md).
WAIVED_ELEMENTS = frozenset({"LanguageIETF", "ChapLanguageIETF"})
WAIVED_CHECK = "MKV-ELEMENT-VALID-PARENT"
INSTALL_HINT = "run `make test-clients` (scripts/install-test-clients.sh)"


class ClientMissing(RuntimeError):
    """A client is not installed (a set-up problem, not a verdict)."""


def _tool(path: Path, what: str) -> str:
    if not path.exists():
        raise ClientMissing(f"{what} is not installed at {path}: {INSTALL_HINT}")
    return str(path)


def _run(command: Sequence[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a client with an argument list and a bounded time; a missing program is
    `ClientMissing`, any exit status is returned to the caller as its verdict."""
    try:
        return subprocess.run(list(command), capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, **kwargs)
    except FileNotFoundError as exc:
        raise ClientMissing(f"{command[0]} not found ({exc.strerror}): {INSTALL_HINT}") from None


# --- W3C WebVTT parser (npm webvtt-parser 2.2.0) -------------------------------------------

class VttError(NamedTuple):
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class VttVerdict:
    """The W3C parser's view of one file: its errors and how many cues it read."""

    errors: list[VttError]
    cues: int


def webvtt_parse(paths: Iterable[Path], mode: str = "subtitles") -> dict[Path, VttVerdict]:
    """Parse every file with the W3C parser (one node process for all of them)."""
    files = [Path(p) for p in paths]
    if not files:
        return {}
    _tool(JS / "node_modules" / "webvtt-parser" / "parser.js", "webvtt-parser")
    proc = _run(["node", str(JS / "validate-vtt.js"), "--mode", mode, *map(str, files)],
                timeout=120)
    if proc.returncode != 0:
        raise ClientMissing(f"the W3C parser did not run: {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    return {p: VttVerdict([VttError(int(e["line"]), int(e["col"]), str(e["message"]))
                           for e in report[str(p)]["errors"]], int(report[str(p)]["cues"]))
            for p in files}


def webvtt_errors(paths: Iterable[Path]) -> dict[Path, list[VttError]]:
    """{path: [errors]} from the W3C parser; a file with no cue at all gets an error too
    (an empty track would otherwise "pass")."""
    out: dict[Path, list[VttError]] = {}
    for path, verdict in webvtt_parse(paths).items():
        extra = [] if verdict.cues else [VttError(0, 0, "no cue was parsed")]
        out[path] = [*verdict.errors, *extra]
    return out


# --- BagIt validators ----------------------------------------------------------------------

class BagitPythonResult(NamedTuple):
    ok: bool
    errors: list[str]
    warnings: list[str]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def bagit_python_validate(bag: Path, fast: bool = False) -> BagitPythonResult:
    """bagit-python (the reference implementation): full checksum validation unless `fast`;
    warnings are what it logs while validating."""
    import bagit  # the project's runtime dependency

    collect = _Collect()
    logger = logging.getLogger("bagit")
    logger.addHandler(collect)
    errors: list[str] = []
    try:
        bagit.Bag(str(bag)).validate(processes=1, fast=fast)
    except bagit.BagValidationError as exc:
        errors = [str(d) for d in exc.details] or [str(exc)]
    except bagit.BagError as exc:
        errors = [str(exc)]
    finally:
        logger.removeHandler(collect)
    return BagitPythonResult(not errors, errors, collect.messages)


class BagitUtilsResult(NamedTuple):
    ok: bool
    messages: list[str]  # "level: message", bagit-utils' own issues plus the note below


def bagit_utils_validate(bag: Path) -> BagitUtilsResult:
    """bagit-utils' validation, every issue as "level: message".

    bagit-utils stops its format checks (data/, manifests present, fetch.txt) with a mere
    warning unless bagit.txt declares 1.0; the declaration is checked here byte for byte as
    RFC 8493 writes it, and a mismatch is reported as a warning of its own, so a test asserting
    "no messages" cannot pass on a bag whose checks were skipped.
    """
    from bagit_utils import Bag, BagItError

    messages: list[str] = []
    declaration = bag / "bagit.txt"
    try:
        exact = declaration.read_bytes() == BAGIT_1_0
    except OSError:
        exact = False
    if not exact:
        messages.append("warning: bagit.txt is not byte-exactly 'BagIt-Version: 1.0\\n"
                        "Tag-File-Character-Encoding: UTF-8\\n': bagit-utils skipped its "
                        "format checks")
    try:
        report = Bag(bag).validate()
    except (BagItError, OSError, UnicodeError, ValueError, KeyError, IndexError) as exc:
        return BagitUtilsResult(False, [*messages, f"error: {type(exc).__name__}: {exc}"])
    messages.extend(f"{issue.level}: {issue.message}" for issue in report.issues)
    return BagitUtilsResult(bool(report.valid), messages)


# --- MediaConch (Matroska implementation checks) -------------------------------------------

@dataclass(frozen=True)
class Finding:
    check: str       # MediaConch's icid, e.g. MKV-ELEMENT-VALID-PARENT
    outcome: str     # fail or warn
    reason: str
    element: str     # the element the test looked at
    context: str     # its path in the file
    value: str

    def __str__(self) -> str:
        return f"{self.check} {self.outcome}: {self.reason} ({self.context}: {self.value})"


@dataclass
class MediaConchReport:
    findings: list[Finding]               # failures and warnings not waived
    waived: list[Finding] = field(default_factory=list)
    checks_run: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def _findings(root: ET.Element) -> tuple[list[Finding], int]:
    found: list[Finding] = []
    runs = 0
    for checks in root.iterfind(".//mc:implementationChecks", MC_NS):
        runs += int(checks.get("checks_run", "0"))
        for check in checks.iterfind("mc:check", MC_NS):
            for test in check.iterfind("mc:test", MC_NS):
                if test.get("outcome") in (None, "pass", "info"):
                    continue
                value = test.find("mc:value", MC_NS)
                found.append(Finding(
                    check=check.get("icid", "?"), outcome=test.get("outcome", "?"),
                    reason=test.get("reason", ""),
                    element=value.get("name", "") if value is not None else "",
                    context=value.get("context", "") if value is not None else "",
                    value=(value.text or "") if value is not None else ""))
    return found, runs


def mediaconch_matroska(path: Path) -> MediaConchReport:
    """MediaConch's Matroska/EBML implementation checks on `path`.

    The LanguageIETF parent finding of Debian's MediaConch 23.03 goes to `waived`; a file on
    which no Matroska check ran (not Matroska at all) gets a finding of its own.
    """
    proc = _run(["mediaconch", "-mc", "-fx", str(path)], timeout=300)
    try:
        root = ET.fromstring(proc.stdout)
    except ET.ParseError:
        return MediaConchReport([Finding("MEDIACONCH-RUN", "fail",
                                         f"no XML report (exit {proc.returncode}): "
                                         f"{proc.stderr.strip()[-300:]}", "", str(path), "")])
    found, runs = _findings(root)
    report = MediaConchReport([], checks_run=runs)
    for finding in found:
        waived = finding.check == WAIVED_CHECK and finding.element in WAIVED_ELEMENTS
        (report.waived if waived else report.findings).append(finding)
    if runs == 0:
        report.findings.append(Finding("MEDIACONCH-NO-CHECKS", "fail",
                                       "no Matroska implementation check ran", "", str(path),
                                       ""))
    return report


# --- MKVToolNix ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MkvTrack:
    id: int
    type: str                  # video, audio, subtitles
    codec_id: str              # e.g. S_TEXT/WEBVTT, D_WEBVTT/SUBTITLES, A_AAC
    language: str              # legacy ISO 639-2
    language_ietf: str | None  # BCP 47
    name: str | None
    default: bool
    forced: bool
    properties: Mapping[str, Any]


@dataclass
class MkvIdentity:
    """`mkvmerge -J`: the container, its tracks, attachments and chapters, and its errors."""

    recognized: bool
    container: str
    tracks: list[MkvTrack]
    attachments: list[dict[str, Any]]
    chapters: list[dict[str, Any]]
    errors: list[str]
    raw: dict[str, Any]


def mkv_identify(path: Path) -> MkvIdentity:
    proc = _run(["mkvmerge", "-J", str(path)], timeout=120)
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return MkvIdentity(False, "", [], [], [], [f"mkvmerge -J: {proc.stderr.strip()}"], {})
    tracks = []
    for track in data.get("tracks", []):
        props = track.get("properties", {})
        tracks.append(MkvTrack(
            id=int(track["id"]), type=str(track.get("type", "")),
            codec_id=str(props.get("codec_id", "")), language=str(props.get("language", "")),
            language_ietf=props.get("language_ietf"), name=props.get("track_name"),
            default=bool(props.get("default_track")), forced=bool(props.get("forced_track")),
            properties=props))
    container = data.get("container", {})
    errors = [str(e) for e in data.get("errors", [])]
    if not container.get("recognized"):
        errors.append("mkvmerge recognises no container format in this file")
    return MkvIdentity(bool(container.get("recognized")), str(container.get("type", "")),
                       tracks, list(data.get("attachments", [])),
                       list(data.get("chapters", [])), errors, data)


def mkv_tracks(path: Path) -> list[MkvTrack]:
    """The tracks `mkvmerge -J` sees (see `mkv_identify` for the rest)."""
    return mkv_identify(path).tracks


class TrackTexts(dict[int, str]):
    """{track id: extracted text} for the tracks mkvextract wrote; `errors` holds what it
    said when it refused (e.g. "Extraction of track ID 2 with the CodecID
    'D_WEBVTT/SUBTITLES' is not supported")."""

    def __init__(self, texts: Mapping[int, str], errors: list[str], returncode: int) -> None:
        super().__init__(texts)
        self.errors = errors
        self.returncode = returncode


def mkv_extract_tracks(path: Path, ids: Iterable[int]) -> TrackTexts:
    """Extract text tracks with mkvextract, as a Matroska user would. The text is returned as
    written (mkvextract starts WebVTT with a BOM and keeps header lines)."""
    wanted = list(ids)
    with tempfile.TemporaryDirectory(prefix="mkvextract-") as tmp:
        outs = {i: Path(tmp) / f"track-{i}.txt" for i in wanted}
        proc = _run(["mkvextract", str(path), "tracks", *(f"{i}:{outs[i]}" for i in wanted)],
                    timeout=300)
        texts = {i: out.read_bytes().decode("utf-8", errors="replace")
                 for i, out in outs.items() if out.exists()}
    errors = [line for line in (proc.stdout + proc.stderr).splitlines()
              if line.startswith(("Error", "Warning"))]
    if proc.returncode != 0 and not errors:
        errors = [f"mkvextract exited {proc.returncode}"]
    return TrackTexts(texts if proc.returncode == 0 else {}, errors, proc.returncode)


# --- warcio, wacz --------------------------------------------------------------------------

class CheckResult(NamedTuple):
    ok: bool
    output: str  # the client's own words (stdout + stderr)


def warcio_check(path: Path) -> CheckResult:
    """`warcio check -v`: every record's block and payload digests."""
    proc = _run([_tool(PROJECT_BIN / "warcio", "warcio"), "check", "-v", str(path)],
                timeout=600)
    return CheckResult(proc.returncode == 0, proc.stdout + proc.stderr)


def wacz_validate(path: Path) -> CheckResult:
    """`wacz validate -f`: the package's structure, datapackage.json and every file hash."""
    proc = _run([_tool(PROJECT_BIN / "wacz", "wacz"), "validate", "-f", str(path)],
                timeout=600)
    output = proc.stdout + proc.stderr
    return CheckResult(proc.returncode == 0 and "Validation succeeded" in output, output)


# --- pywb ----------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"wayback exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"wayback did not answer {url} in time")


@contextlib.contextmanager
def pywb_replay(archives: Sequence[Path], collection: str = "lesson",
                timeout: float = 60.0) -> Iterator[str]:
    """Replay WARC/WACZ files with pywb: `wb-manager init` + `add` (`--unpack-wacz` for a
    WACZ) into a temporary collection
    folder, `wayback` bound to 127.0.0.1 on a free port; yields the collection's base URL
    (`http://127.0.0.1:PORT/COLLECTION/`; add `id_/URL` for the bytes as archived, or
    `TIMESTAMPid_/URL`). The server is stopped on exit."""
    manager = _tool(PYWB_BIN / "wb-manager", "pywb (wb-manager)")
    wayback = _tool(PYWB_BIN / "wayback", "pywb (wayback)")
    with tempfile.TemporaryDirectory(prefix="pywb-") as tmp:
        # pywb 2.10 adds a WACZ only unpacked (its WARCs and index into the collection)
        unpack = ["--unpack-wacz"] if any(str(a).endswith(".wacz") for a in archives) else []
        for command in ([manager, "init", collection],
                        [manager, "add", *unpack, collection, *map(str, archives)]):
            proc = _run(command, timeout=timeout, cwd=tmp)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(command[:2])} failed: {proc.stderr[-800:]}")
        port = free_port()
        log = open(Path(tmp) / "wayback.log", "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen([wayback, "-b", "127.0.0.1", "-p", str(port)], cwd=tmp,
                                   stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/{collection}/"
        try:
            _wait_http(f"http://127.0.0.1:{port}/", process, time.monotonic() + timeout)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()


# --- yt-dlp as a downstream client ---------------------------------------------------------

# Runs yt-dlp's own command line after mapping chosen host:port pairs to addresses, as curl's
# --resolve does, by wrapping socket.getaddrinfo inside the yt-dlp process (its networking,
# urllib and requests alike, connects through it). TLS still checks the certificate against
# the host name in the URL.
_RESOLVING_MAIN = """
import json, os, runpy, socket, sys
table = json.loads(os.environ.pop("LESSON_ARCHIVER_TEST_RESOLVE"))
original = socket.getaddrinfo
def getaddrinfo(host, port, *args, **kwargs):
    key = f"{host}:{port}".lower()
    return original(table.get(key, host), port, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
sys.argv = ["yt-dlp", *sys.argv[1:]]
runpy.run_module("yt_dlp", run_name="__main__", alter_sys=True)
"""


class ClientRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The last line of stdout as JSON (what `-J` / `-j` print)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else None


def ytdlp_client(url: str, *args: str, ca: Path | None = None,
                 resolve: Mapping[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 120.0) -> ClientRun:
    """Run `python -m yt_dlp ARGS URL` in a subprocess, as a downstream user would.

    `ca`: a PEM bundle yt-dlp should trust (SSL_CERT_FILE with `--compat-options no-certifi`,
    FIELD-NOTES.md; for test clients only). `resolve`: {"host:port": "address"}, curl's
    --resolve. A hang beyond `timeout` raises subprocess.TimeoutExpired.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTTP_PROXY", "HTTPS_PROXY",
                                                                     "http_proxy", "https_proxy"))}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    options = ["--ignore-config", "--no-cache-dir"]
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
        options += ["--compat-options", "no-certifi"]
    if resolve:
        env["LESSON_ARCHIVER_TEST_RESOLVE"] = json.dumps({k.lower(): v for k, v in
                                                          resolve.items()})
        command = [sys.executable, "-c", _RESOLVING_MAIN]
    else:
        command = [sys.executable, "-m", "yt_dlp"]
    proc = subprocess.run([*command, *options, *args, url], capture_output=True, text=True,
                          errors="replace", timeout=timeout, check=False, env=env, cwd=cwd)
    return ClientRun(proc.returncode, proc.stdout, proc.stderr)
