"""`presales report`: the numbers (SLA, trend, funnel, scorecards), the CSV / JSON exports of the
same numbers, and the HTML page rendered by headless Chromium (screenshot and DOM)."""

from __future__ import annotations

import csv
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from report_fixture import write_org

# Every test here starts the `presales` command; two render in Chromium (tests/fast_lane.py)
pytestmark = pytest.mark.slow

PRESALES = str(Path(sys.executable).parent / "presales")
WIDTH, HEIGHT = 1400, 2200


def presales(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PRESALES, "--config", str(config), *args], capture_output=True, text=True,
                          cwd=config.parent, timeout=120, check=False)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_org(tmp_path_factory.mktemp("report"))


def test_json_csv_carry_the_same_numbers(org: Path) -> None:
    proc = presales(org, "--json", "report", "--period", "2026Q4", "--csv", "out")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    cards = {c["engineer"]: c for c in data["scorecards"]}
    assert [c["engineer"] for c in data["scorecards"]] == ["Li Wei", "Wang Fang", "Zhang Min"]
    zhang = {m["metric"]: m for m in cards["Zhang Min"]["metrics"]}
    assert zhang["first_pass_rate"]["value"] == pytest.approx(1 / 3)  # 3 first reviews, 1 passed
    assert zhang["rework_count"]["value"] == 3 and zhang["win_rate"]["value"] == 0.5
    assert zhang["satisfaction"]["value"] == 3.5
    # SLA (P2: 8 working hours, requests at 10:00 Shanghai): Zhang Min answered after 6, 30 and
    # 9 hours -> one on time; everybody else within 5 hours
    sla = {r["engineer"]: r for r in data["sla"]}
    assert (sla["Zhang Min"]["due"], sla["Zhang Min"]["on_time"]) == (3, 1)
    assert data["sla_team"] == {"due": 8, "on_time": 6, "rate": 0.75}
    assert [p["median_hours"] for p in data["response_trend"]][:2] == [2.0, 3.0]
    funnel = {f["step"]: f["tasks"] for f in data["funnel"]}
    assert funnel["Requirements"] == 8 and funnel["Internal Review"] == 8 and funnel["Presentation"] == 7
    with (org.parent / "out" / "leaderboard.csv").open(encoding="utf-8-sig") as fh:
        board = list(csv.DictReader(fh))
    assert [(r["engineer"], float(r["score"]), r["band"]) for r in board] == [
        (c["engineer"], c["score"], c["band"]) for c in data["scorecards"]]
    with (org.parent / "out" / "metrics.csv").open(encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["engineer"] == "Zhang Min" and r["metric"] == "rework_count"]
    assert float(rows[0]["value"]) == 3 and rows[0]["sources"].count("006X") == 3


def test_bad_period_exits_2(org: Path) -> None:
    proc = presales(org, "report", "--period", "Q4-2026")
    assert proc.returncode == 2 and "2026Q4" in proc.stderr


def _png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, unfiltered RGB(A) rows) of an 8-bit PNG, by the PNG spec (no imaging library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, [b"".join(r[i:i + 3] for i in range(0, len(r), bpp)) for r in rows]


def _chromium() -> str:
    found = shutil.which("chromium")
    # Never a skip: `make test` installs Debian's chromium (scripts/ensure-chromium).
    assert found, "chromium is not installed: run `make test` or scripts/ensure-chromium"
    return found


@pytest.mark.parametrize("language", ["zh", "en"])
def test_html_renders_in_headless_chromium(tmp_path: Path, language: str) -> None:
    config = write_org(tmp_path, language=language)
    proc = presales(config, "report", "--period", "2026Q4", "--html", "report.html")
    assert proc.returncode == 0, proc.stderr
    html = tmp_path / "report.html"
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert "<script" not in text and "<link" not in text  # self-contained
    chromium = _chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}",
                    html.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout

    width, height, rows = _png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    pixels = {row[i:i + 3] for row in rows[::4] for i in range(0, len(row), 12)}
    assert len(pixels) > 20, "the screenshot is blank"
    for colour in ("1f6feb", "2da44e", "8250df"):  # contribution bars, SLA bars, funnel bars
        assert bytes.fromhex(colour) in pixels, f"no #{colour} pixels: the charts were not drawn"

    assert dom.count("<svg") >= 5  # weighted scores, rates, SLA, trend, funnel
    assert 'class="chart leaderboard-chart"' in dom and 'class="chart funnel-chart"' in dom
    assert dom.count("<polyline") == 1 and dom.count("<circle") >= 5
    board = dom.split('<table id="leaderboard">')[1].split("</table>")[0]
    assert board.count("<tr>") == 4 and "Li Wei" in board and "Zhang Min" in board
    heading = "售前团队绩效报告" if language == "zh" else "Presales team KPI report"
    assert heading in dom and ("不合格" in board if language == "zh" else "Fail (不合格)" in board)
