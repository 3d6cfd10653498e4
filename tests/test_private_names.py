"""No code outside archiver/adapters/ touches a private name of another library.

The rule is ruff's SLF001 with the project's own configuration (pyproject: selected for the
whole tree, ignored only under archiver/adapters/). The first two tests prove the rule is in
force where it should be and off only where it should be, using the very configuration, so
that a mistyped per-file-ignores pattern cannot switch it off silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_USE = "import httpx\n\n\ndef pool(t: httpx.HTTPTransport) -> object:\n    return t._pool\n"


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "SLF",
                           "--output-format", "json", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def _codes(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [item["code"] for item in json.loads(result.stdout or "[]")]


@pytest.mark.parametrize(("path", "flagged"), [
    ("archiver/fetch/probe_private.py", True),
    ("archiver/verify/probe_private.py", True),
    ("archiver/probe_private.py", True),
    ("archiver/adapters/probe_private.py", False),
    ("archiver/adapters/ytdlp/probe_private.py", False),
])
def test_the_rule_holds_everywhere_but_the_adapters(path: str, flagged: bool) -> None:
    result = _ruff("--stdin-filename", path, "-", stdin=PRIVATE_USE)
    assert _codes(result) == (["SLF001"] if flagged else []), result.stdout + result.stderr


def test_the_project_configuration_selects_the_rule() -> None:
    """Without --select: the rule comes from pyproject, as `make test` runs ruff."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "json",
                             "--stdin-filename", "archiver/fetch/probe_private.py", "-"],
                            cwd=ROOT, input=PRIVATE_USE, capture_output=True, text=True,
                            timeout=120, check=False)
    assert "SLF001" in _codes(result), result.stdout + result.stderr


def test_archiver_touches_no_private_name_outside_the_adapters() -> None:
    result = _ruff("archiver")
    found = json.loads(result.stdout or "[]")
    where = [f"{item['filename']}:{item['location']['row']}: {item['message']}"
             for item in found]
    assert result.returncode == 0 and not where, "\n".join(where) or result.stderr
