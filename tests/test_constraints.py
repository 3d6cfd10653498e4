"""constraints.txt: exact tested versions of every dependency, and make installs with it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"constraints.txt:{number}: not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(spec) for spec in [*project["dependencies"], *extras]]


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is declared in pyproject but not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}")


def test_the_libraries_the_adapters_import_are_declared() -> None:
    names = {canonicalize_name(r.name) for r in _declared()}
    assert {"httpx", "httpcore", "h11", "yt-dlp"} <= names


def test_the_installed_versions_are_the_pinned_ones() -> None:
    """The venv the tests run in was built with constraints.txt (as `make` builds it)."""
    wrong = []
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}=={version} is pinned but not installed")
            continue
        if installed != version:
            wrong.append(f"{name}: installed {installed}, pinned {version}")
    assert not wrong, "rebuild the venv with make (or make constraints):\n" + "\n".join(wrong)


def test_the_project_and_tool_venv_packages_stay_out() -> None:
    pins = _pins()
    assert "lesson-archiver" not in pins
    assert "pywb" not in pins  # test tools with pins of their own live in their tool venv


def _dry_install(tmp_path: Path, constraints: Path) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", f"VENV={tmp_path / 'venv'}",
         f"CONSTRAINTS={constraints}", "install"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_make_installs_with_the_constraints_and_keys_its_stamp_on_them(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("httpx==0.28.1\n", "utf-8")
    second.write_text("httpx==0.28.0\n", "utf-8")
    plan_a, plan_b = _dry_install(tmp_path, first), _dry_install(tmp_path, second)
    assert f"-c {first} -e '.[test]'" in plan_a
    stamps = [re.findall(r"touch (\S+\.installed-\w+)", plan) for plan in (plan_a, plan_b)]
    assert stamps[0] and stamps[1] and stamps[0] != stamps[1]
    assert re.findall(r"touch (\S+)", _dry_install(tmp_path, first)) == stamps[0]
