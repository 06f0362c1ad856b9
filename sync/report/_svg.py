"""Small inline SVG charts (no library, no network): horizontal bars (grouped or stacked) and
a line with points. Text is escaped; sizes are fixed so a screenshot is predictable."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = "font-family=\"'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',Arial,sans-serif\" font-size=\"12\""
Series = tuple[str, str]  # (legend name, colour)


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    out = []
    for name, colour in series:
        out.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14:.0f}" y="{y:.0f}">{escape(name)}</text>')
        x += 24 + 7.5 * len(name.encode("utf-8")) ** 0.9
    return out


def bars(rows: Sequence[tuple[str, Sequence[float | None]]], series: Sequence[Series], *, max_value: float,
         title: str, stacked: bool = False, value_format: str = "{:.1f}", width: int = 640,
         css_class: str = "chart") -> str:
    """One row per label; per row one bar per series (grouped) or one bar of segments (stacked)."""
    label_w, bar_h, gap, top = 130, 14, 8, 44
    per_row = bar_h if stacked else bar_h * len(series)
    height = top + len(rows) * (per_row + gap) + 10
    plot_w = width - label_w - 60
    scale = plot_w / max_value if max_value > 0 else 0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {FONT}>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
             *_legend(series, label_w, 34)]
    y = top
    for label, values in rows:
        parts.append(f'<text x="{label_w - 6}" y="{y + per_row / 2 + 4:.0f}" text-anchor="end">'
                     f'{escape(label[:18])}</text>')
        x = float(label_w)
        for i, ((_, colour), value) in enumerate(zip(series, values, strict=True)):
            v = value or 0.0
            w = max(0.0, v * scale)
            by = y if stacked else y + i * bar_h
            bx = x if stacked else label_w
            shown = "n/a" if value is None else value_format.format(v)
            parts.append(f'<rect x="{bx:.1f}" y="{by}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}">'
                         f'<title>{escape(label)}: {shown}</title></rect>')
            if not stacked:
                text = "–" if value is None else value_format.format(v)
                parts.append(f'<text x="{bx + w + 4:.1f}" y="{by + bar_h - 4}">{text}</text>')
            x += w if stacked else 0
        if stacked:
            total = sum(v or 0.0 for v in values)
            parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}">{value_format.format(total)}</text>')
        y += per_row + gap
    parts.append("</svg>")
    return "".join(parts)


def line(points: Sequence[tuple[str, float]], *, title: str, unit: str, width: int = 640,
         colour: str = "#1f6feb") -> str:
    """A line over labelled points (x in order), the y axis from 0 to the maximum."""
    height, left, right, top, bottom = 240, 48, 16, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    title = f"{title} ({unit})"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trend-chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" {FONT}>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
             'stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>']
    if not points:
        parts.append(f'<text x="{left + 10}" y="{top + plot_h / 2:.0f}">–</text></svg>')
        return "".join(parts)
    top_value = max(v for _, v in points) or 1.0
    step = plot_w / max(1, len(points) - 1)
    coords = [(left + (i * step if len(points) > 1 else plot_w / 2), top + plot_h - v / top_value * plot_h)
              for i, (_, v) in enumerate(points)]
    parts.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{top_value:.0f}</text>'
                 f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')
    parts.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
        colour, " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)))
    for (label, value), (x, y) in zip(points, coords, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                     f'<title>{escape(label)}: {value:.1f}</title></circle>'
                     f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">{value:.1f}</text>'
                     f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                     f'{escape(label[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["bars", "line"]
