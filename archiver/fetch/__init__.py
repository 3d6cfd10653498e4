"""The fetch stage: resolve a lesson's sources to media and download it with evidence.

Modules: `stage` (the stage entry point `run`), `resolve` (page / direct media / HLS URL, via
yt-dlp's HTML5 and m3u8 parsers, never its networking), `download` (resumable, hashed, bounded,
retried transfers), `sink` (hash + write on worker threads), `rawbody` (large bodies straight
from the socket), `hls` (playlists and segments), `http` (one source's session: TLS policy on
every response, redirects, exchange records), `tls` (policies, certificate classification and
evidence), `warc` and `capture` (the two evidence files).
"""
