"""lesson-archiver: preserve lecture videos whose original web pages are fragile.

Stages (each reads only what earlier stages wrote to disk, so each can be rerun alone):
fetch -> subtitles -> package -> publish; verify and check-sources work on the archive alone.
"""

__version__ = "0.1.0"
