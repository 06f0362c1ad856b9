"""The report as one self-contained HTML page: inline CSS and SVG, no script, no external
asset, labels in Chinese or English."""

from __future__ import annotations

from html import escape
from typing import Any

from presales_sync.sync.report._svg import bars, line

DIM_COLOURS = {"contribution": "#1f6feb", "quality": "#2da44e", "knowledge": "#bf8700",
               "learning": "#8250df"}
BAND_COLOURS = {"卓越": "#0a7d3b", "优秀": "#2da44e", "良好": "#1f6feb", "合格": "#bf8700",
                "不合格": "#cf222e"}

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "售前团队绩效报告", "period": "考核期", "generated": "生成时间", "leaderboard": "团队排行榜",
        "rank": "排名", "engineer": "工程师", "score": "得分", "band": "评级", "calibrated": "校准后",
        "contribution": "项目贡献度", "quality": "方案质量", "knowledge": "知识共享", "learning": "学习成长",
        "weighted": "加权得分构成", "scorecards": "个人记分卡", "metric": "指标", "value": "实际值",
        "target": "目标", "floor": "零分线", "metric_score": "指标得分", "sources": "依据记录",
        "sla": "首次响应 SLA 达标率", "sla_team": "团队达标率", "on_time": "按时", "due": "应响应",
        "trend": "首次响应时间趋势（中位数）", "hours": "小时", "rates": "一次通过率与中标率",
        "first_pass_rate": "一次通过率", "win_rate": "中标率", "funnel": "流程漏斗（到达各步骤的任务）",
        "tasks": "任务数", "projects": "参与项目数", "satisfaction": "客户满意度", "rework_count": "返工次数",
        "recognition": "客户认可", "documents": "文档贡献", "trainings": "培训", "sharing_sessions": "分享会",
        "certifications": "认证", "skill_improvements": "技能提升", "na": "无数据",
        "Requirements": "需求收集", "Solution Design": "方案设计", "Internal Review": "内部评审",
        "Presentation": "客户呈现", "Feedback": "闭环反馈", "Done": "完成",
    },
    "en": {
        "title": "Presales team KPI report", "period": "Period", "generated": "Generated",
        "leaderboard": "Leaderboard",
        "rank": "#", "engineer": "Engineer", "score": "Score", "band": "Rating", "calibrated": "Calibrated",
        "contribution": "Project contribution", "quality": "Solution quality",
        "knowledge": "Knowledge sharing",
        "learning": "Learning growth", "weighted": "Weighted score by dimension", "scorecards": "Scorecards",
        "metric": "Metric", "value": "Value", "target": "Target", "floor": "Zero at", "metric_score": "Score",
        "sources": "Source records", "sla": "First-response SLA compliance", "sla_team": "Team compliance",
        "on_time": "On time", "due": "Due", "trend": "First-response time (median)", "hours": "hours",
        "rates": "First-pass and win rates", "first_pass_rate": "First-pass rate", "win_rate": "Win rate",
        "funnel": "Funnel (tasks reaching each step)", "tasks": "Tasks", "projects": "Projects",
        "satisfaction": "Customer satisfaction", "rework_count": "Reworks",
        "recognition": "Customer recognition",
        "documents": "Documents", "trainings": "Trainings", "sharing_sessions": "Sharing sessions",
        "certifications": "Certifications", "skill_improvements": "Skill improvements", "na": "n/a",
        "Requirements": "Requirements", "Solution Design": "Solution Design",
        "Internal Review": "Internal Review",
        "Presentation": "Presentation", "Feedback": "Feedback", "Done": "Done",
    },
}
BAND_EN = {"卓越": "Outstanding", "优秀": "Excellent", "良好": "Good", "合格": "Pass", "不合格": "Fail"}
RATES = ("first_pass_rate", "win_rate")

CSS = """
body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',Arial,sans-serif;margin:24px;
color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:14px;margin:16px 0 6px}.meta{color:#656d76;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #d0d7de;padding:3px 8px;
text-align:left}th{background:#f6f8fa}td.num{text-align:right}
.band{color:#fff;padding:1px 6px;border-radius:3px}
.grid{display:flex;flex-wrap:wrap;gap:24px}.card{flex:0 0 640px}
"""


def _fmt(metric: str, value: float | None, na: str) -> str:
    if value is None:
        return na
    if metric in RATES:
        return f"{100 * value:.0f}%"
    return f"{value:.1f}" if metric == "satisfaction" else f"{value:g}"


def _value(card: dict[str, Any], metric: str) -> float | None:
    """A metric's value; a year's card has quarters instead of metrics (None then)."""
    return next((m["value"] for m in card["metrics"] if m["metric"] == metric), None)


def render_html(data: dict[str, Any]) -> str:
    lang = data["language"] if data["language"] in LABELS else "zh"
    t = LABELS[lang]

    def band(value: str | None) -> str:
        if not value:
            return ""
        text = value if lang == "zh" else f"{BAND_EN[value]} ({value})"
        return f'<span class="band" style="background:{BAND_COLOURS[value]}">{escape(text)}</span>'

    cards = data["scorecards"]
    dims = list(DIM_COLOURS)
    weights = data["settings"].get("weights", {})
    out = [f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
           f'<title>{escape(t["title"])} {escape(data["period"])}</title><style>{CSS}</style></head><body>',
           f'<h1>{escape(t["title"])} · {escape(data["period"])}</h1>',
           f'<div class="meta">{escape(t["period"])}: {escape(data["period"])} · {escape(t["generated"])}: '
           f'{escape(data["generated_at"])}</div>',
           f'<h2>{escape(t["leaderboard"])}</h2>',
           '<table id="leaderboard"><thead><tr>'
           + "".join(f"<th>{escape(t[k])}</th>"
                     for k in ("rank", "engineer", "score", "band", "calibrated", *dims))
           + "</tr></thead><tbody>"]
    for i, c in enumerate(cards, start=1):
        out.append(f'<tr><td class="num">{i}</td><td>{escape(c["engineer"])}</td>'
                   f'<td class="num">{c["score"]:.1f}</td>'
                   f'<td>{band(c["band"])}</td><td>{band(c["calibrated_band"])}</td>'
                   + "".join(f'<td class="num">{c["dimensions"][d]:.1f}</td>' for d in dims) + "</tr>")
    out.append("</tbody></table>")
    stacked_rows = [(c["engineer"], [weights.get(d, 0) * c["dimensions"][d] / 100 for d in dims])
                    for c in cards]
    out.append('<div class="grid"><div class="card">' + bars(
        stacked_rows, [(t[d], DIM_COLOURS[d]) for d in dims], max_value=100, title=t["weighted"],
        stacked=True, css_class="chart leaderboard-chart") + "</div>")
    rate_rows = [(c["engineer"], [_value(c, r) for r in RATES]) for c in cards]
    out.append('<div class="card">' + bars(
        [(n, [None if v is None else 100 * v for v in vs]) for n, vs in rate_rows],
        [(t["first_pass_rate"], "#2da44e"), (t["win_rate"], "#1f6feb")], max_value=100, title=t["rates"],
        value_format="{:.0f}%") + "</div></div>")

    team = data["sla_team"]
    team_rate = "–" if team["rate"] is None else f"{100 * team['rate']:.0f}%"
    out.append(f'<h2>{escape(t["sla"])}</h2><div class="meta">{escape(t["sla_team"])}: {team_rate} '
               f'({team["on_time"]}/{team["due"]})</div><div class="grid"><div class="card">')
    out.append(bars([(r["engineer"], [100 * r["rate"]]) for r in data["sla"]], [(t["on_time"], "#2da44e")],
                    max_value=100, title=t["sla"], value_format="{:.0f}%", css_class="chart sla-chart"))
    out.append('</div><div class="card">')
    out.append(line([(p["from"], p["median_hours"]) for p in data["response_trend"]], title=t["trend"],
                    unit=t["hours"]))
    out.append("</div></div>")
    funnel = data["funnel"]
    out.append(f'<h2>{escape(t["funnel"])}</h2>' + bars(
        [(t.get(f["step"], f["step"]), [f["tasks"]]) for f in funnel], [(t["tasks"], "#8250df")],
        max_value=max([f["tasks"] for f in funnel] + [1]), title=t["funnel"], value_format="{:.0f}",
        css_class="chart funnel-chart"))

    out.append(f'<h2>{escape(t["scorecards"])}</h2><div class="grid">')
    for c in cards:
        out.append(f'<div class="card scorecard"><h3>{escape(c["engineer"])} · {c["score"]:.1f} '
                   f'{band(c["calibrated_band"] or c["band"])}</h3><table><thead><tr>'
                   + "".join(f"<th>{escape(t[k])}</th>" for k in ("metric", "value", "target", "floor",
                                                                  "metric_score", "sources"))
                   + "</tr></thead><tbody>")
        for m in c["metrics"]:
            score = t["na"] if m["score"] is None else f'{m["score"]:.0f}'
            more = len(m["sources"]) - 4
            sources = ", ".join(m["sources"][:4]) + (f" … (+{more})" if more > 0 else "")
            cells = [_fmt(m["metric"], m[k], t["na"]) for k in ("value", "target", "floor")] + [score]
            out.append(f'<tr><td>{escape(t[m["metric"]])}</td>'
                       + "".join(f'<td class="num">{v}</td>' for v in cells)
                       + f'<td>{escape(sources)}</td></tr>')
        for quarter, score in c["quarters"].items():
            out.append(f'<tr><td>{escape(quarter)}</td><td class="num" colspan="4">{score:.1f}</td>'
                       '<td></td></tr>')
        out.append("</tbody></table></div>")
    out.append("</div></body></html>")
    return "\n".join(out)


__all__ = ["LABELS", "render_html"]
