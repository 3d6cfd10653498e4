"""The fetch stage: resolve a lesson's sources to media and download it with evidence.

Modules: `stage` (the stage entry point `run`), `resolve` (page / direct media / HLS / DASH
URL, via yt-dlp's real extraction over the source's Session, archiver.adapters.ytdlp),
`components` (separate video and audio kept as served, merged losslessly), `hostmap`
(`--resolve`), `download` (resumable, hashed, bounded,
retried transfers), `sink` (hash + write on worker threads), `rawbody` (large bodies straight
from the socket), `hls` (playlists and segments), `http` (one source's session: TLS policy on
every response, redirects, exchange records), `tls` (policies, certificate classification and
evidence), `warc` and `capture` (the two evidence files).
"""
