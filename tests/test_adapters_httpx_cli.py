"""archiver.adapters.httpx_cli: httpx loads and works without its command-line client."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import archiver
import httpx
assert "httpx._main" in sys.modules and sys.modules["httpx._main"] is None
assert not any(name == "rich" or name.startswith("rich.") for name in sys.modules), "rich"
assert not any(name == "click" or name.startswith("click.") for name in sys.modules), "click"
response = httpx.Response(200, content=b"ok")
assert response.read() == b"ok" and callable(httpx.main) and httpx.Client
print("ok")
"""


def test_httpx_imports_without_its_cli() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
