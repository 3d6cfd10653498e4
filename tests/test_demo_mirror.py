"""The demo mirror: real espeak-ng speech and real ffmpeg media, on a short two-paragraph lesson.

The full 10:43 mirror is never built here (that is `archiver demo`); the same code builds a
26-second one, and ffmpeg's silencedetect must find silence exactly where truth.json says the
speech pauses.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archiver.demo import speech
from archiver.demo.mirror import Mirror, MirrorSpec, build_mirror, read_transcript, render_page
from archiver.errors import ArchiverError, SubtitleError

pytestmark = pytest.mark.slow  # the demo mirror built with espeak-ng and ffmpeg

REPO = Path(__file__).resolve().parents[1]
SHORT = MirrorSpec(
    lesson_id="digital-china-13", number=13,
    title_en="Strengthen Global Planning <and> \"Systemic\" Advancement",
    title_zh="数字中国建设系列之十三", duration=26.0,
    paragraphs=((5.0, "建设数字中国是数字时代推进中国式现代化的重要引擎,"
                       "是构筑国家竞争新优势的有力支撑。"),
                (13.0, "仅2022年,国家正式发布的法律、部门规章以及配套规范文件就达38项。")),
)


@pytest.fixture(scope="module")
def short_mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    return build_mirror(tmp_path_factory.mktemp("mirror"), SHORT)


def _probe(path: Path) -> Any:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams",
                          "-of", "json", str(path)], capture_output=True, check=True).stdout
    return json.loads(out)


def _silences(media: Path) -> list[tuple[float, float]]:
    err = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(media), "-vn", "-af",
                          "silencedetect=noise=-35dB:d=0.3", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", err)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", err)]
    return list(zip(starts, ends, strict=False))


def _truth_gaps(truth: dict[str, Any]) -> list[tuple[float, float]]:
    """The silent stretches truth.json implies: everything that is neither speech nor music."""
    sounds = sorted([(c["start"], c["end"]) for p in truth["paragraphs"]
                     for c in p["clauses"]] +
                    [(m["start"], m["end"]) for m in truth["music"]])
    gaps, position = [], 0.0
    for start, end in sounds:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    gaps.append((position, float(truth["duration"])))
    return gaps


def test_short_mirror_has_the_published_shape(short_mirror: Mirror) -> None:
    assert short_mirror.built
    info = _probe(short_mirror.media)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    assert streams["video"]["r_frame_rate"] == "25/1"
    assert streams["audio"]["codec_name"] == "aac"
    assert float(info["format"]["duration"]) == pytest.approx(26.0, abs=0.05)
    poster = short_mirror.folder / "media" / "poster.jpg"
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    page = short_mirror.page.read_text("utf-8")
    assert short_mirror.page.name == "lesson-13.html"
    assert '<video controls width="640" poster="media/poster.jpg"' in page
    assert '<source src="media/lesson-13.mp4" type="video/mp4">' in page
    assert "&lt;and&gt; &quot;Systemic&quot;" in page  # titles are escaped, not injected


def test_truth_matches_the_pauses_silencedetect_finds(short_mirror: Mirror) -> None:
    truth = json.loads(short_mirror.truth.read_text("utf-8"))
    assert truth["schema"] == "lesson-archiver/demo-truth/1" and truth["duration"] == 26.0
    clauses = [c for p in truth["paragraphs"] for c in p["clauses"]]
    assert [c["text"] for c in clauses] == [
        "建设数字中国是数字时代推进中国式现代化的重要引擎", "是构筑国家竞争新优势的有力支撑",
        "仅2022年", "国家正式发布的法律", "部门规章以及配套规范文件就达38项"]
    assert [c["pause"] for c in clauses] == ["clause", "sentence", "clause", "enumeration",
                                             "sentence"]
    first, second = truth["paragraphs"]
    assert first["start"] == pytest.approx(5.0 + speech.LEAD_IN, abs=1e-3)
    assert first["end"] <= 13.0 - speech.TAIL + 0.05  # fits before the next timestamp
    assert second["start"] == pytest.approx(13.0 + speech.LEAD_IN, abs=1e-3)
    assert [m["kind"] for m in truth["music"]] == ["intro", "outro"]
    assert truth["music"][0]["end"] <= first["start"] - 2.0
    detected = _silences(short_mirror.media)
    expected = [g for g in _truth_gaps(truth) if g[1] - g[0] >= 0.34]
    assert len(expected) >= 5
    for start, end in expected:  # every real pause is found, within 50 ms at both edges
        assert any(abs(d[0] - start) < 0.05 and abs(d[1] - end) < 0.05 for d in detected), \
            (start, end, detected)
    gaps = _truth_gaps(truth)
    for d in detected:  # and silence is found nowhere else (no gap inside a clause)
        assert any(g[0] - 0.05 <= d[0] and d[1] <= g[1] + 0.05 for g in gaps), (d, gaps)
    # the enumeration pause (0.2 s) is real but below the detector's 0.3 s: truth still has it
    enumeration = clauses[3]
    assert clauses[4]["start"] - enumeration["end"] == pytest.approx(
        speech.PAUSES["enumeration"], abs=0.002)


def test_second_build_does_no_work_and_changed_input_rebuilds(
        short_mirror: Mirror, tmp_path: Path) -> None:
    folder = short_mirror.folder
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    again = build_mirror(folder, SHORT)  # how fast: `make bench` (benchmarks/mirror.py)
    assert not again.built
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before
    # a missing output or a changed input (here: a different transcript text) means rebuild
    copy = tmp_path / "copy"
    first = build_mirror(copy, replace(SHORT, duration=12.0, paragraphs=SHORT.paragraphs[:1]))
    assert first.built
    first.media.unlink()
    assert build_mirror(copy, replace(SHORT, duration=12.0,
                                      paragraphs=SHORT.paragraphs[:1])).built
    changed = replace(SHORT, duration=12.0, paragraphs=((5.0, "数字中国。"),))
    rebuilt = build_mirror(copy, changed)
    assert rebuilt.built
    truth = json.loads(rebuilt.truth.read_text("utf-8"))
    assert [c["text"] for p in truth["paragraphs"] for c in p["clauses"]] == ["数字中国"]


def test_a_failed_build_keeps_the_previous_mirror(tmp_path: Path) -> None:
    spec = replace(SHORT, duration=12.0, paragraphs=((5.0, "数字中国。"),))
    good = build_mirror(tmp_path, spec)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ArchiverError, match="ffmpeg failed"):
        build_mirror(tmp_path, replace(spec, size="not-a-size"))
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert not build_mirror(tmp_path, spec).built  # the old build is still the cached one
    assert good.media.is_file()


def test_speech_that_cannot_fit_its_window_is_a_clear_error() -> None:
    with pytest.raises(ArchiverError, match=r"cannot be spoken within 2\.0 s"):
        speech.plan_paragraph(4, 60.0, "建设数字中国是数字时代推进中国式现代化的重要引擎。" * 3,
                              2.0)


def test_speed_follows_the_window() -> None:
    text = "推进数字中国建设前景广阔,意义重大,任务艰巨。"
    roomy = speech.plan_paragraph(0, 0.0, text, 12.0)
    tight = speech.plan_paragraph(0, 0.0, text, 6.0)
    assert tight.speed > roomy.speed
    for placed, window in ((roomy, 12.0), (tight, 6.0)):
        assert placed.end / speech.RATE <= window - speech.TAIL + 0.3


def test_clauses_split_at_both_punctuation_widths() -> None:
    clauses = speech.split_clauses("2023年5月23日,国家互联网信息办公室发布 “数字中国发展报告2022,” "
                                   "系统总结了成效:数字经济、数据要素。")
    assert [(c.text, c.punct) for c in clauses] == [
        ("2023年5月23日", ","), ("国家互联网信息办公室发布数字中国发展报告2022", ","),
        ("系统总结了成效", ":"), ("数字经济", "、"), ("数据要素", "。")]
    assert speech.split_clauses("“”。 ") == []


def test_real_transcript_and_a_broken_one(tmp_path: Path) -> None:
    paragraphs = read_transcript(REPO / "manifests" / "transcripts" / "digital-china-13.txt")
    assert len(paragraphs) == 23
    assert (paragraphs[0][0], paragraphs[-1][0]) == (22.0, 621.0)
    assert paragraphs[0][1].startswith("建设数字中国是数字时代")
    broken = tmp_path / "t.txt"
    broken.write_text("English first\n数字中国\n00:05\nx\n数字\n", "utf-8")
    with pytest.raises(SubtitleError, match=r"t\.txt:1: "):
        read_transcript(broken)


def test_page_is_static_html5() -> None:
    page = render_page(SHORT)
    assert page.count("<video") == 1 and "<script" not in page


def test_output_folder_names_need_no_escaping(tmp_path: Path) -> None:
    folder = tmp_path / "we,ird:dir's [x];y"
    spec = replace(SHORT, duration=4.0, paragraphs=((0.5, "数字中国。"),), music=False,
                   outro=0.5)
    built = build_mirror(folder, spec)
    assert built.built and built.media.stat().st_size > 0
    assert not [p for p in folder.rglob("*") if ".tmp-" in p.name]


def test_bad_paragraph_timing_is_a_clear_error() -> None:
    with pytest.raises(ArchiverError, match="paragraph 1 at 5 s does not come after paragraph 0"):
        speech.plan_speech([(9.0, "数字中国。"), (5.0, "数字中国。")], 20.0)
    with pytest.raises(ArchiverError, match="leaves no time for speech"):
        speech.plan_speech([(1.0, "数字中国。"), (19.5, "数字中国。")], 19.0)
    clauses = speech.split_clauses("-5度,数字中国")  # a leading dash is text, not an option
    assert len(speech.synthesize(clauses[0].text, 240)) > speech.RATE // 10
