"""KPI scorecards and ratings (绩效考核), pure: facts in, scores and bands out.

Every metric is computed from facts the work itself left behind — task events, the
opportunity's CRM outcome, imported activities — never from logged hours. A `Fact` names
its source record, so a score can be explained down to the records behind it.

- Each metric's value is normalised to 0–100 on a straight line from its `floor` (scores
  0) to its `target` (scores 100), clamped. A floor above the target makes "lower is
  better" (rework: 0 reworks is the target, 4 or more score 0).
- Metrics combine into four dimensions (project contribution, solution quality, knowledge
  sharing, learning growth) by their weights; the dimensions combine by the default
  weights 40 / 30 / 20 / 10 (sum 100). A rate with no facts (no closed deal, no review in
  the period) is left out and its dimension averages over the metrics that have values.
- Optional behaviour component (the 80 / 20 form): score = (100 − w)% × KPI + w% ×
  behaviour, when a behaviour score was given for the engineer.
- Quarterly bands 优秀 / 良好 / 合格 / 不合格 by score thresholds. The annual rule, built on
  the four quarters: the year's score is the mean of the final quarterly scores of the
  quarters the engineer was scored in; its band comes from the annual thresholds
  (卓越 / 优秀 / 良好 / 合格 / 不合格), then two checks: 卓越 needs at least
  `outstanding_needs_excellent_quarters` quarters rated 优秀 (else 优秀), and a quarter
  rated 不合格 caps the year at `fail_quarter_caps_at` (`fails_for_fail` such quarters
  make the year 不合格).
- A manager's calibration replaces the computed band; the raw score, the computed band and
  the calibration are kept apart so the calibration is visible and reversible.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Dimension(StrEnum):
    CONTRIBUTION = "contribution"   # 项目贡献度
    QUALITY = "quality"             # 方案质量
    KNOWLEDGE = "knowledge"         # 知识共享
    LEARNING = "learning"           # 学习成长


class Metric(StrEnum):
    PROJECTS = "projects"
    WIN_RATE = "win_rate"
    SATISFACTION = "satisfaction"
    FIRST_PASS_RATE = "first_pass_rate"
    REWORK_COUNT = "rework_count"
    RECOGNITION = "recognition"
    DOCUMENTS = "documents"
    TRAININGS = "trainings"
    SHARING_SESSIONS = "sharing_sessions"
    CERTIFICATIONS = "certifications"
    SKILL_IMPROVEMENTS = "skill_improvements"


class Band(StrEnum):
    """Rating bands; the value is what the CRM's Presales_Rating__c holds."""

    OUTSTANDING = "卓越"
    EXCELLENT = "优秀"
    GOOD = "良好"
    PASS = "合格"
    FAIL = "不合格"


BAND_ORDER: tuple[Band, ...] = tuple(Band)  # best first
QUARTER_BANDS: tuple[Band, ...] = (Band.EXCELLENT, Band.GOOD, Band.PASS, Band.FAIL)
BAND_ENGLISH: dict[Band, str] = {Band.OUTSTANDING: "Outstanding", Band.EXCELLENT: "Excellent",
                                 Band.GOOD: "Good", Band.PASS: "Pass", Band.FAIL: "Fail"}

DIMENSION_OF: dict[Metric, Dimension] = {
    Metric.PROJECTS: Dimension.CONTRIBUTION,
    Metric.WIN_RATE: Dimension.CONTRIBUTION,
    Metric.SATISFACTION: Dimension.CONTRIBUTION,
    Metric.FIRST_PASS_RATE: Dimension.QUALITY,
    Metric.REWORK_COUNT: Dimension.QUALITY,
    Metric.RECOGNITION: Dimension.QUALITY,
    Metric.DOCUMENTS: Dimension.KNOWLEDGE,
    Metric.TRAININGS: Dimension.KNOWLEDGE,
    Metric.SHARING_SESSIONS: Dimension.KNOWLEDGE,
    Metric.CERTIFICATIONS: Dimension.LEARNING,
    Metric.SKILL_IMPROVEMENTS: Dimension.LEARNING,
}

# How a metric's facts become its value: a count (sum of the facts' values), or a mean (a
# rate of 0/1 facts, or an average rating) which has no value without facts.
Aggregate = Literal["count", "mean"]
AGGREGATE: dict[Metric, Aggregate] = {
    Metric.PROJECTS: "count", Metric.WIN_RATE: "mean", Metric.SATISFACTION: "mean",
    Metric.FIRST_PASS_RATE: "mean", Metric.REWORK_COUNT: "count", Metric.RECOGNITION: "count",
    Metric.DOCUMENTS: "count", Metric.TRAININGS: "count", Metric.SHARING_SESSIONS: "count",
    Metric.CERTIFICATIONS: "count", Metric.SKILL_IMPROVEMENTS: "count",
}

# Activity kinds (`presales activities import`) and the metric each one feeds.
ACTIVITY_METRIC: dict[str, Metric] = {
    "document": Metric.DOCUMENTS,
    "training": Metric.TRAININGS,
    "sharing": Metric.SHARING_SESSIONS,
    "certification": Metric.CERTIFICATIONS,
    "skill": Metric.SKILL_IMPROVEMENTS,
}


# -- periods ---------------------------------------------------------------------------

_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4]))?$")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A scoring period: a quarter (`2026Q4`) or a year (`2026`)."""

    year: int
    quarter: int | None = None

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text.strip().upper())
        if not m or not 2000 <= int(m.group(1)) <= 2999:
            raise ValueError(f"'{text}' is not a period; use a quarter such as 2026Q4 or a year such as 2026")
        return cls(int(m.group(1)), int(m.group(2)) if m.group(2) else None)

    @classmethod
    def containing(cls, day: date) -> Period:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}" if self.quarter else str(self.year)

    @property
    def is_year(self) -> bool:
        return self.quarter is None

    @property
    def start(self) -> date:
        return date(self.year, 3 * (self.quarter - 1) + 1 if self.quarter else 1, 1)

    @property
    def end(self) -> date:
        """The first day after the period."""
        if self.quarter is None or self.quarter == 4:
            return date(self.year + 1, 1, 1)
        return date(self.year, 3 * self.quarter + 1, 1)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def quarters(self) -> tuple[Period, ...]:
        return tuple(Period(self.year, q) for q in range(1, 5)) if self.quarter is None else (self,)

    def __str__(self) -> str:
        return self.label


# -- settings --------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSettings(_Strict):
    """`floor` scores 0 and `target` scores 100, linearly between; `weight` within the dimension."""

    target: float
    floor: float = 0.0
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.target == self.floor:
            raise ValueError("target and floor must differ (floor scores 0, target scores 100)")
        return self


def _default_metrics() -> dict[Metric, MetricSettings]:
    m = MetricSettings
    return {
        Metric.PROJECTS: m(target=6), Metric.WIN_RATE: m(target=0.5),
        Metric.SATISFACTION: m(target=4.5, floor=3), Metric.FIRST_PASS_RATE: m(target=0.85, floor=0.5),
        Metric.REWORK_COUNT: m(target=0, floor=4), Metric.RECOGNITION: m(target=2),
        Metric.DOCUMENTS: m(target=3), Metric.TRAININGS: m(target=2), Metric.SHARING_SESSIONS: m(target=1),
        Metric.CERTIFICATIONS: m(target=1), Metric.SKILL_IMPROVEMENTS: m(target=1),
    }


def _default_weights() -> dict[Dimension, float]:
    return {Dimension.CONTRIBUTION: 40, Dimension.QUALITY: 30, Dimension.KNOWLEDGE: 20,
            Dimension.LEARNING: 10}


class BehaviourSettings(_Strict):
    enabled: bool = False
    weight: float = Field(default=20, gt=0, lt=100)


def _ordered(thresholds: Mapping[Band, float], bands: Sequence[Band], where: str) -> None:
    """Every band but the last needs a threshold, strictly decreasing from best to worst."""
    needed = list(bands[:-1])
    missing = [b.value for b in needed if b not in thresholds]
    extra = [b.value for b in thresholds if b not in needed]
    if missing or extra:
        raise ValueError(f"{where}: give a minimum score for exactly {', '.join(b.value for b in needed)} "
                         f"({bands[-1].value} is everything below)")
    values = [thresholds[b] for b in needed]
    if any(not 0 <= v <= 100 for v in values):
        raise ValueError(f"{where}: minimum scores must be between 0 and 100")
    if any(a <= b for a, b in itertools.pairwise(values)):
        raise ValueError(f"{where}: minimum scores must decrease from {needed[0].value} "
                         f"to {needed[-1].value}")


class AnnualRule(_Strict):
    outstanding_needs_excellent_quarters: int = Field(default=3, ge=0, le=4)
    fail_quarter_caps_at: Band = Band.GOOD
    fails_for_fail: int = Field(default=2, ge=1, le=4)


class KpiSettings(BaseModel):
    """The scorecard's knobs (rules/kpi.yaml); validated so a bad file is refused at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[Dimension, float] = Field(default_factory=_default_weights)
    metrics: dict[Metric, MetricSettings] = Field(default_factory=_default_metrics)
    behaviour: BehaviourSettings = Field(default_factory=BehaviourSettings)
    quarterly_bands: dict[Band, float] = Field(default_factory=lambda: {
        Band.EXCELLENT: 85.0, Band.GOOD: 75.0, Band.PASS: 60.0})
    annual_bands: dict[Band, float] = Field(default_factory=lambda: {
        Band.OUTSTANDING: 90.0, Band.EXCELLENT: 82.0, Band.GOOD: 72.0, Band.PASS: 60.0})
    annual: AnnualRule = Field(default_factory=AnnualRule)

    @model_validator(mode="after")
    def _check(self) -> Self:
        missing = [d.value for d in Dimension if d not in self.weights]
        if missing:
            raise ValueError(f"weights: missing {', '.join(missing)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights: must not be negative")
        total = sum(self.weights.values())
        if abs(total - 100) > 1e-9:
            raise ValueError(f"weights must sum to 100, they sum to {total:g}")
        absent = [m.value for m in Metric if m not in self.metrics]
        if absent:
            raise ValueError(f"metrics: missing {', '.join(absent)}")
        _ordered(self.quarterly_bands, QUARTER_BANDS, "quarterly_bands")
        _ordered(self.annual_bands, BAND_ORDER, "annual_bands")
        if self.annual.fail_quarter_caps_at is Band.OUTSTANDING:
            raise ValueError("annual.fail_quarter_caps_at: a cap of 卓越 caps nothing; use 优秀 or lower")
        return self


# -- facts and scores ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fact:
    """One source record behind a metric: `value` is 1 for a count, 1/0 for a rate, or a
    rating for an average; `source` names the record (an opportunity id, an activity)."""

    source: str
    value: float = 1.0


Facts = Mapping[Metric, Sequence[Fact]]


@dataclass(frozen=True, slots=True)
class MetricScore:
    metric: Metric
    dimension: Dimension
    value: float | None
    score: float | None
    target: float
    floor: float
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Scorecard:
    """One engineer's score for one period, and everything it was built from."""

    engineer_id: str
    period: str
    metrics: tuple[MetricScore, ...]
    dimensions: dict[Dimension, float]
    kpi: float
    behaviour: float | None
    score: float
    band: Band
    calibrated: Band | None = None
    quarters: dict[str, float] = field(default_factory=dict)

    @property
    def final_band(self) -> Band:
        return self.calibrated or self.band

    def metric(self, metric: Metric) -> MetricScore:
        return next(m for m in self.metrics if m.metric is metric)


def normalise(value: float, *, target: float, floor: float) -> float:
    """0 at `floor`, 100 at `target`, linear between, clamped to 0–100."""
    share = (value - floor) / (target - floor)
    return round(100 * min(1.0, max(0.0, share)), 4)


def metric_value(metric: Metric, facts: Sequence[Fact]) -> float | None:
    if AGGREGATE[metric] == "count":
        return float(sum(f.value for f in facts))
    return sum(f.value for f in facts) / len(facts) if facts else None


def _metric_score(metric: Metric, facts: Facts, settings: KpiSettings) -> MetricScore:
    own = tuple(facts.get(metric, ()))
    value = metric_value(metric, own)
    if metric is Metric.REWORK_COUNT and not own and not facts.get(Metric.FIRST_PASS_RATE):
        value = None  # nothing went to review: "no rework" would reward doing nothing
    s = settings.metrics[metric]
    score = None if value is None else normalise(value, target=s.target, floor=s.floor)
    return MetricScore(metric, DIMENSION_OF[metric], value, score, s.target, s.floor,
                       tuple(f.source for f in own))


def quarter_band(score: float, settings: KpiSettings) -> Band:
    return _band(score, settings.quarterly_bands, QUARTER_BANDS)


def annual_band_by_score(score: float, settings: KpiSettings) -> Band:
    return _band(score, settings.annual_bands, BAND_ORDER)


def _band(score: float, thresholds: Mapping[Band, float], bands: Sequence[Band]) -> Band:
    for band in bands[:-1]:
        if score >= thresholds[band]:
            return band
    return bands[-1]


def score_quarter(engineer_id: str, period: Period, facts: Facts, settings: KpiSettings, *,
                  behaviour: float | None = None, calibrated: Band | None = None) -> Scorecard:
    """The quarterly scorecard of one engineer from their facts."""
    if period.is_year:
        raise ValueError("score_quarter needs a quarter; use score_year for a year")
    if calibrated is not None and calibrated not in QUARTER_BANDS:
        raise ValueError(f"a quarter is rated {', '.join(b.value for b in QUARTER_BANDS)}; not {calibrated}")
    metrics = tuple(_metric_score(m, facts, settings) for m in Metric)
    dimensions: dict[Dimension, float] = {}
    for dim in Dimension:
        scored = [(settings.metrics[m.metric].weight, m.score) for m in metrics
                  if m.dimension is dim and m.score is not None]
        total = sum(w for w, _ in scored)
        dimensions[dim] = round(sum(w * s for w, s in scored) / total, 4) if total else 0.0
    kpi = sum(settings.weights[d] * dimensions[d] for d in Dimension) / 100
    final = kpi
    if settings.behaviour.enabled and behaviour is not None:
        if not 0 <= behaviour <= 100:
            raise ValueError(f"behaviour score {behaviour:g} for {engineer_id} is not between 0 and 100")
        w = settings.behaviour.weight
        final = (100 - w) / 100 * kpi + w / 100 * behaviour
    score = round(final, 1)
    return Scorecard(engineer_id, period.label, metrics, dimensions, round(kpi, 1),
                     behaviour if settings.behaviour.enabled else None, score,
                     quarter_band(score, settings), calibrated)


def score_year(engineer_id: str, year: Period, quarters: Sequence[Scorecard], settings: KpiSettings, *,
               calibrated: Band | None = None) -> Scorecard:
    """The annual rating from the year's quarterly scorecards (see the module docstring)."""
    if not year.is_year:
        raise ValueError("score_year needs a year such as 2026")
    mine = [q for q in quarters if q.engineer_id == engineer_id]
    if not mine:
        raise ValueError(f"no quarterly scorecard of {engineer_id} in {year}")
    labels = {q.label for q in year.quarters()}
    stray = [q.period for q in mine if q.period not in labels]
    if stray or len({q.period for q in mine}) != len(mine):
        raise ValueError(f"quarters must be distinct quarters of {year}: {[q.period for q in mine]}")
    score = round(sum(q.score for q in mine) / len(mine), 1)
    band = annual_band_by_score(score, settings)
    finals = [q.final_band for q in mine]
    rule = settings.annual
    if band is Band.OUTSTANDING and finals.count(Band.EXCELLENT) < rule.outstanding_needs_excellent_quarters:
        band = Band.EXCELLENT
    fails = finals.count(Band.FAIL)
    if fails >= rule.fails_for_fail:
        band = Band.FAIL
    elif fails and BAND_ORDER.index(band) < BAND_ORDER.index(rule.fail_quarter_caps_at):
        band = rule.fail_quarter_caps_at
    dims = {d: round(sum(q.dimensions[d] for q in mine) / len(mine), 4) for d in Dimension}
    kpi = round(sum(q.kpi for q in mine) / len(mine), 1)
    return Scorecard(engineer_id, year.label, (), dims, kpi, None, score, band, calibrated,
                     quarters={q.period: q.score for q in sorted(mine, key=lambda q: q.period)})


__all__ = [
    "ACTIVITY_METRIC",
    "AGGREGATE",
    "BAND_ENGLISH",
    "BAND_ORDER",
    "DIMENSION_OF",
    "QUARTER_BANDS",
    "AnnualRule",
    "Band",
    "BehaviourSettings",
    "Dimension",
    "Fact",
    "Facts",
    "KpiSettings",
    "Metric",
    "MetricScore",
    "MetricSettings",
    "Period",
    "Scorecard",
    "annual_band_by_score",
    "metric_value",
    "normalise",
    "quarter_band",
    "score_quarter",
    "score_year",
]
