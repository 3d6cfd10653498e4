"""The only place where archiver touches private internals of third-party libraries.

Why a package of its own: a library's private names (httpx's `HTTPTransport._pool`, httpcore's
`_h11_state`, yt-dlp's `YoutubeDL._request_director`) can change in any routine release, and
when one does, the code that relied on it must fail loudly, not quietly fall back to
something weaker. Keeping every such use here means:

- one module (or package) per library: `adapters.httpcore` (httpx/httpcore/h11),
  `adapters.ytdlp`; the rest of archiver/ imports only their public names. ruff's SLF001 is
  enforced on archiver/ except this package (pyproject `per-file-ignores`), and
  tests/test_private_names.py proves the rule is in force;
- each adapter says which internals it relies on (`contract.Internal`) and raises
  `contract.ContractBroken`, naming the attribute and the installed versions, when one is
  gone; a caller that can do without (a speed-up) catches it and falls back, a caller whose
  safety depends on it (the handshake check under `pin:`) refuses instead;
- each adapter has a contract test, `tests/test_adapters_<lib>.py`, that drives every internal
  with real traffic against the installed release, so `make test` on a new release says
  exactly what changed. `constraints.txt` pins the releases these tests passed with.
"""
