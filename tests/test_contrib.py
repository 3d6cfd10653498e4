"""The shipped scheduling files work as written and run with least privilege.

`contrib/crontab`'s lines are run by bash exactly as cron would (its variables set, the
schedule fields stripped) against a real archive; the systemd units' `ExecStart=` is run with
its variables expanded; systemd's own tools judge the units (`systemd-analyze security
--offline`) and create the account from `contrib/sysusers.d` in a scratch root.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_media
from test_verify_fixity import LESSON, build_bag, flip_byte

pytestmark = pytest.mark.slow  # the shipped cron/systemd checks run on a packaged archive

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
UNITS = sorted((CONTRIB / "systemd").glob("*.service"))
MAX_EXPOSURE = 2.0  # systemd-analyze's scale: 0 (locked down) .. 10 (unprotected)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("contrib")
    out = base / "output"
    build_bag(out / "packages" / LESSON, make_media(base / "clip.mp4", seconds=1.0))
    return out


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Path:
    out = tmp_path / "output"
    shutil.copytree(pristine, out)
    return out


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An installation folder shaped like /opt/lesson-archiver: `.venv/bin/archiver`."""
    folder = tmp_path / "app"
    (folder / ".venv").mkdir(parents=True)
    (folder / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    assert (folder / ".venv" / "bin" / "archiver").exists()
    return folder


def cron_entries() -> tuple[dict[str, str], list[str]]:
    """The crontab's variable lines and the command part of each schedule line."""
    variables, commands = {}, []
    for line in (CONTRIB / "crontab").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, _, value = line.partition("=")
            variables[name] = value
        else:
            commands.append(line.split(None, 5)[5])
    return variables, commands


def run_cron(command: str, archive: Path, app: Path) -> subprocess.CompletedProcess[str]:
    variables, _ = cron_entries()
    env = {**os.environ, **variables, "ARCHIVE": str(archive), "APP": str(app)}
    return subprocess.run([variables.get("SHELL", "/bin/sh"), "-c", command], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_crontab_checks_are_quiet_when_ok_loud_when_not_and_keep_reports_private(
        archive: Path, app: Path) -> None:
    _, commands = cron_entries()
    fast, deep = (next(c for c in commands if f"verify {flag}" in c)
                  for flag in ("--fast", "--deep"))
    quiet = run_cron(fast, archive, app)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""  # no mail
    stored = list((archive / "reports").glob("verify-fast-*.json"))
    assert len(stored) == 1
    assert stat.S_IMODE(stored[0].stat().st_mode) & 0o027 == 0  # umask 027: nothing for others
    flip_byte(archive / "packages" / LESSON / "data" / "access" / f"{LESSON}.mp4", 2000)
    loud = run_cron(deep, archive, app)
    assert f"CHANGED   packages/{LESSON}/data/access/{LESSON}.mp4" in loud.stdout  # mailed


def unit_settings(path: Path) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file (a key may repeat, as systemd allows)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text("utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_units_run_as_a_dedicated_user_with_a_private_umask(unit: Path) -> None:
    settings = unit_settings(unit)
    assert settings["User"] == ["lesson-archiver"] and settings["Group"] == ["lesson-archiver"]
    assert "DynamicUser" not in settings  # it could not write an archive a fixed user owns
    assert settings["UMask"] == ["0027"]
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["CapabilityBoundingSet"] == [""]
    assert settings["NoNewPrivileges"] == ["true"]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_command_runs_as_written(unit: Path, archive: Path) -> None:
    settings = unit_settings(unit)
    defaults = dict(pair.split("=", 1) for pair in settings["Environment"][0].split())
    values = {**defaults, "ARCHIVE": str(archive), "KEEP": "2", "VERIFY_EXTRA": ""}
    command = []
    for word in settings["ExecStart"][0].split():
        word = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: values[m.group(1)], word)
        if word:  # an empty $VERIFY_EXTRA is no argument (systemd splits it away)
            command.append(word)
    assert command[0] == "/opt/lesson-archiver/.venv/bin/archiver"
    proc = subprocess.run([sys.executable, "-m", "archiver", *command[1:]], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert list((archive / "reports").glob("verify-*.json"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_rates_the_units_well_protected(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                           str(unit)], capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="needs systemd-sysusers")
def test_sysusers_file_creates_a_system_account_without_login(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\n")
    for name in ("shadow", "gshadow"):
        (etc / name).write_text("")
    config = CONTRIB / "sysusers.d" / "lesson-archiver.conf"
    proc = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    user = next(line for line in (etc / "passwd").read_text().splitlines()
                if line.startswith("lesson-archiver:"))
    uid, gid, _gecos, home, shell = user.split(":")[2:]
    assert int(uid) < 1000 and shell == "/usr/sbin/nologin" and home == "/srv/lesson-archiver"
    assert f"lesson-archiver:x:{gid}:" in (etc / "group").read_text()
