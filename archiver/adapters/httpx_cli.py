"""httpx without its command-line client (`httpx._main`: rich, click, pygments).

Why: `import httpx` tries `from ._main import main` and, when click and rich happen to be
installed (other tools in the venv bring them), loads them, ~45 ms of every `archiver` run
for a client the archiver never calls (benchmarks/fetch_process.py counts that fixed cost).
A `None` in `sys.modules` is Python's documented way to make an import raise ImportError;
httpx then defines its fallback `main`, which only prints that the CLI extras are missing.
It is set only while httpx is not loaded yet, so a process that imported httpx first keeps
what it has. A private name of httpx: tests/test_adapters_httpx_cli.py fails if a release
stops treating the module as optional.
"""

from __future__ import annotations

import sys

MODULE = "httpx._main"


def skip_cli() -> None:
    """Keep httpx's command-line client out of this process (call before httpx loads)."""
    if "httpx" not in sys.modules and MODULE not in sys.modules:
        sys.modules[MODULE] = None  # type: ignore[assignment]  # "not importable", see above
