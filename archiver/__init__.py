"""lesson-archiver: preserve lecture videos whose original web pages are fragile.

Stages (each reads only what earlier stages wrote to disk, so each can be rerun alone):
fetch -> subtitles -> package -> publish; verify and check-sources work on the archive alone.
"""

from archiver.adapters.httpx_cli import skip_cli

__version__ = "0.1.0"

skip_cli()  # before any module imports httpx: see archiver/adapters/httpx_cli.py
