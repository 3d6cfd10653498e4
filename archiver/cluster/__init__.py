"""`archiver archive --scheduler ADDRESS | --cluster local:N`: lessons on a Dask cluster.

Why Dask distributed (issue 13): it installs from PyPI alone, runs a real scheduler and
workers on 127.0.0.1 in tests, has per-task retries and worker resources, and fsspec gives it a
road to object storage. The archive folder stays the source of truth (fingerprints, state
records); the scheduler's memory holds nothing that must survive.

- `spec`: what `--cluster` and `--scheduler` accept.
- `task`: what runs on a worker: one lesson's fetch → subtitles → package through the same
  runner (`batch.run_lesson`), so each stage's own reuse check decides what is redone.
- `client`: the client side: one task per lesson, keyed by lesson id and the fingerprint of
  its manifest entry, retries, the `ffmpeg` resource; then the catalog and the site, written
  once by the client.
- `lock`: one lock per lesson (two clients never work on the same lesson).
See docs/scale.md.
"""
