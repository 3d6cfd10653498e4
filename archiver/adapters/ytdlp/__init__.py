"""yt-dlp, driven through archiver's transport (see archiver.adapters for the pattern).

- `transport`: `SessionRH`, a yt_dlp.networking RequestHandler bound to one source's
  `Session`, and `install`, the one hook (a private attribute) that makes a YoutubeDL send
  every request through it;
- `extract`: `extract_info(download=False)` with every extractor, generic last, over that
  transport;
- `extractors`: archiver's own InfoExtractors, one module per player family.

Contract test: tests/test_adapters_ytdlp.py.
"""
