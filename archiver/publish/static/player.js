/* lesson-archiver player: subtitle switch, interactive transcript, seek links.
   No dependencies, no network requests of its own. */
(function () {
  "use strict";
  var video = document.querySelector("video[data-lesson]");
  if (!video) { return; }
  var trackEls = Array.prototype.slice.call(video.querySelectorAll("track"));

  /* Show one subtitle track (or none); keep the others "hidden" so their cues are loaded and
     switching is instant. */
  function showSubtitles(lang) {
    trackEls.forEach(function (el) {
      el.track.mode = (el.id === "track-" + lang) ? "showing" : "hidden";
    });
  }
  function currentSubtitles() {
    for (var i = 0; i < trackEls.length; i++) {
      if (trackEls[i].track.mode === "showing") { return trackEls[i].id.replace(/^track-/, ""); }
    }
    return "off";
  }
  var radios = Array.prototype.slice.call(document.querySelectorAll('input[name="subs"]'));
  function syncRadios() {
    var lang = currentSubtitles();
    radios.forEach(function (r) { r.checked = (r.value === lang); });
  }
  radios.forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) { showSubtitles(r.value); } });
  });
  var initial = video.querySelector("track[default]");
  showSubtitles(initial ? initial.id.replace(/^track-/, "") : "off");
  video.textTracks.addEventListener("change", syncRadios);  /* the native captions menu */

  function seek(seconds, play) {
    if (!isFinite(seconds)) { return; }
    video.currentTime = seconds;
    if (play && video.paused) {
      var p = video.play();
      if (p && p.catch) { p.catch(function () { /* autoplay refused: stay paused */ }); }
    }
  }

  /* transcript: click a passage or press Enter/Space on its timestamp button to play from it */
  var list = document.getElementById("transcript");
  var paras = list ? Array.prototype.slice.call(list.querySelectorAll("li.para")) : [];
  var starts = paras.map(function (li) { return parseFloat(li.getAttribute("data-start")); });
  if (list) {
    list.addEventListener("click", function (event) {
      var li = event.target.closest("li.para");
      if (!li) { return; }
      var selection = window.getSelection && window.getSelection().toString();
      if (selection && event.target.tagName !== "BUTTON" && !event.target.closest("button")) {
        return;  /* the reader is selecting text, not seeking */
      }
      seek(parseFloat(li.getAttribute("data-start")), true);
    });
  }
  document.addEventListener("click", function (event) {
    var b = event.target.closest && event.target.closest("[data-seek]");
    if (b) { seek(parseFloat(b.getAttribute("data-seek")), true); }
  });

  /* highlight the passage being spoken; scroll the transcript box (never the page) to it */
  var current = -1;
  function highlight() {
    var t = video.currentTime, index = -1;
    for (var i = 0; i < starts.length; i++) { if (starts[i] <= t + 0.05) { index = i; } }
    if (index >= 0) {
      var end = parseFloat(paras[index].getAttribute("data-end"));
      if (t > end + 0.05 && (index + 1 >= starts.length || t < starts[index + 1])) { index = -1; }
    }
    if (index === current) { return; }
    if (current >= 0) { paras[current].classList.remove("current"); paras[current].removeAttribute("aria-current"); }
    current = index;
    if (index < 0) { return; }
    var li = paras[index];
    li.classList.add("current");
    li.setAttribute("aria-current", "true");
    if (list.scrollHeight > list.clientHeight + 1) {
      var top = li.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top + li.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      }
    }
  }
  if (paras.length) {
    video.addEventListener("timeupdate", highlight);
    video.addEventListener("seeked", highlight);
  }

  /* audio-only lessons: Chromium keeps its audio controls over the bottom of the box, where
     cues are drawn, so every cue is lifted above them (the .vtt files stay as packaged): its
     top goes where two lines of cue text (site.css: 16-30 px, 3.4 % of the width, line
     height 1.35) end just above the controls */
  if (video.classList.contains("audio")) {
    var CONTROLS_PX = 64;
    var lift = function () {
      var box = video.getBoundingClientRect();
      if (!box.height) { return; }
      var font = Math.min(30, Math.max(16, 0.034 * box.width));
      var top = box.height - CONTROLS_PX - 2 * 1.35 * font - 6;
      var line = Math.round(Math.max(5, Math.min(85, top / box.height * 100)));
      trackEls.forEach(function (el) {
        var cues = el.track.cues;
        if (!cues) { return; }
        for (var i = 0; i < cues.length; i++) {
          if (cues[i].line !== line) {
            cues[i].snapToLines = false;
            cues[i].line = line;
          }
        }
      });
    };
    trackEls.forEach(function (el) { el.addEventListener("load", lift); });
    video.addEventListener("loadedmetadata", lift);
    window.addEventListener("resize", lift);
    lift();
  }

  /* #t=193 deep links */
  function fromHash() {
    var m = /^#t=(\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (m) { seek(parseFloat(m[1]), false); }
  }
  if (video.readyState >= 1) { fromHash(); } else { video.addEventListener("loadedmetadata", fromHash, { once: true }); }
  window.addEventListener("hashchange", fromHash);

})();
