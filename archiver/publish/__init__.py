"""Publish: turn the archive's packages and catalog into a static, embeddable site.

`command.publish_site(ctx)` builds `output/site/` (lesson pages, embed pages, catalog, media),
`serve` previews it locally with the headers a real host needs, and `check` opens a built site in
Chromium to confirm what a viewer sees. See docs/serving.md.
"""
