"""The fetch stage: resolve a lesson's sources to media and download it with evidence.

Modules: `stage` (the stage entry point `run`), `resolve` (page / direct media / HLS),
`download` (resumable, hashed, retried transfers), `http` (one source's HTTP session: TLS
policy, redirects, exchange records), `tls` (policies and certificate evidence), `warc`
and `capture` (the two evidence files).
"""
