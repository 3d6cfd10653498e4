"""Where and by whom the site is published: the command line over the manifest's `[site]`.

Every URL that leaves the site (oEmbed, Open Graph, JSON-LD, IIIF, the embed snippet) must be
absolute, and IIIF and Open Graph consumers refuse relative ones. So there is always a base
URL: `publish --base-url`, else the manifest's `[site] base_url`, else `archiver serve`'s own
address (`DEFAULT_BASE_URL`), which makes a fresh site work in the local preview but nowhere
else; the publish log and record say so (`defaulted`), and docs/serving.md tells to set it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from archiver.model import Bilingual, Manifest
from archiver.options import PublishOptions

DEFAULT_BASE_URL = "http://127.0.0.1:8000/"
DEFAULT_PROVIDER = Bilingual(en="lesson-archiver")
DEFAULT_WARNING = (f"no base URL set: the site's absolute URLs (oEmbed, Open Graph, JSON-LD, "
                   f"IIIF, the embed snippet) point to {DEFAULT_BASE_URL} (archiver serve); "
                   "set `publish --base-url URL` or `[site] base_url` in the manifest to the "
                   "address the site will be served from before publishing it")


@dataclass(frozen=True)
class SiteConfig:
    """The resolved settings every page and document of one build uses."""

    base_url: str                 # absolute, ends with '/'
    embed_base_url: str           # absolute, ends with '/' (base_url unless stated)
    defaulted: bool               # True: nobody said where the site is served
    provider_name: Bilingual      # who publishes this archive site
    provider_url: str
    publisher: Bilingual          # who published the lectures (the series' publisher)
    attribution: Bilingual | None

    def url(self, rel: str) -> str:
        """The absolute URL of a file of the site (`rel` relative to the site root)."""
        return urljoin(self.base_url, rel)

    def embed_url(self, rel: str) -> str:
        """The absolute URL of an embed page (`rel` like `embed/<id>.html`)."""
        return urljoin(self.embed_base_url, rel)

    @property
    def secure(self) -> bool:
        """Whether the site is served over HTTPS (Open Graph's `secure_url`, Twitter's player
        need it)."""
        return self.base_url.startswith("https://")


def resolve(options: PublishOptions, manifest: Manifest) -> SiteConfig:
    """The build's settings: flags first, then the manifest's `[site]`, then the defaults."""
    site = manifest.site
    base = options.site_base or site.base_url or DEFAULT_BASE_URL
    embed = options.embed_base or site.embed_base_url or base
    series = manifest.series
    return SiteConfig(
        base_url=base, embed_base_url=embed,
        defaulted=not (options.site_base or site.base_url),
        provider_name=site.provider_name or DEFAULT_PROVIDER,
        provider_url=site.provider_url or base,
        publisher=series.publisher, attribution=site.attribution)
