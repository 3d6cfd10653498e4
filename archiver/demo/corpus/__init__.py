"""Generated inputs shaped like the real web: a media matrix, page and player shapes, a fake
site for a site-specific yt-dlp extractor, served by the multi-host HTTPS server.

Shared by the tests (session fixtures in tests/conftest.py) and `make bench`; see
docs/corpus.md for what exists, how to add a shape, and how the truth is defined.
"""
