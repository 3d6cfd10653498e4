/* lesson-archiver's IIIF viewer: Samvera Ramp (IIIF Presentation 3 audio/video) on one page.
   The page names the manifest in its query string (?manifest=…); only manifests of this same
   site are opened, so the viewer can never be pointed at someone else's server. */
import "./no-dynamic-style.js";
import React from "react";
import { createRoot } from "react-dom/client";
import { IIIFPlayer, MediaPlayer, StructuredNavigation, Transcript, MetadataDisplay } from "@samvera/ramp";
import "video.js/dist/video-js.css";
import "@samvera/ramp/dist/ramp.css";
import "./viewer.css";

const h = React.createElement;

function manifestUrl() {
  const given = new URLSearchParams(window.location.search).get("manifest");
  if (!given) { return null; }
  const url = new URL(given, window.location.href);
  return url.origin === window.location.origin ? url.href : null;
}

function start() {
  const root = document.getElementById("iiif-viewer");
  if (!root) { return; }
  const url = manifestUrl();
  if (!url) {
    root.textContent = "No IIIF manifest of this site was named (?manifest=../iiif/<lesson>/manifest.json).";
    return;
  }
  createRoot(root).render(
    h(IIIFPlayer, { manifestUrl: url },
      h("div", { className: "iiif-viewer-grid" },
        h("div", { className: "iiif-viewer-player" },
          h(MediaPlayer, { enableFileDownload: false, enablePlaybackRate: true }),
          h(StructuredNavigation, null)),
        h("div", { className: "iiif-viewer-side" },
          h(Transcript, { playerID: "iiif-media-player",
                          transcripts: [{ canvasId: 0, items: [{ title: "Subtitles", url: url }] }] }),
          h(MetadataDisplay, { displayTitle: true, showHeading: true })))));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
