"""KPI scoring: periods, normalisation, weights, behaviour, quarterly bands and the annual rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from presales_sync import rules
from presales_sync.rules.kpi import (
    Band,
    Dimension,
    Fact,
    KpiSettings,
    Metric,
    Period,
    Scorecard,
    normalise,
    quarter_band,
    score_quarter,
    score_year,
)

SETTINGS = KpiSettings()
Q4 = Period(2026, 4)
KPI_YAML = Path(rules.__file__).parent / "kpi.yaml"


def facts(**counts: list[float] | int) -> dict[Metric, list[Fact]]:
    """Facts by metric name: an int is that many count facts, a list gives each value."""
    out: dict[Metric, list[Fact]] = {}
    for name, spec in counts.items():
        values = [1.0] * spec if isinstance(spec, int) else spec
        out[Metric(name)] = [Fact(f"{name}-{i}", v) for i, v in enumerate(values)]
    return out


# -- periods -----------------------------------------------------------------------------

def test_period_parse_and_bounds():
    q = Period.parse("2026q4")
    assert (q.label, q.start, q.end) == ("2026Q4", date(2026, 10, 1), date(2027, 1, 1))
    assert Period.parse("2026Q1").end == date(2026, 4, 1)
    year = Period.parse("2026")
    assert (year.is_year, year.start, year.end) == (True, date(2026, 1, 1), date(2027, 1, 1))
    assert [p.label for p in year.quarters()] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert Period.containing(date(2026, 11, 23)) == q
    assert q.contains(date(2026, 12, 31)) and not q.contains(date(2027, 1, 1))


@pytest.mark.parametrize("bad", ["2026Q5", "26Q1", "Q4", "2026-Q4", "", "1999"])
def test_bad_period_is_refused_with_the_forms_to_use(bad: str):
    with pytest.raises(ValueError, match="2026Q4"):
        Period.parse(bad)


# -- normalisation -------------------------------------------------------------------------

def test_normalise_higher_and_lower_is_better():
    assert normalise(0.85, target=0.85, floor=0.5) == 100
    assert normalise(0.675, target=0.85, floor=0.5) == pytest.approx(50)
    assert normalise(0.3, target=0.85, floor=0.5) == 0
    assert normalise(1.0, target=0.85, floor=0.5) == 100
    # rework: target 0, floor 4 -> one rework costs a quarter
    assert normalise(1, target=0, floor=4) == 75
    assert normalise(9, target=0, floor=4) == 0


@given(st.floats(-1e6, 1e6), st.floats(-100, 100), st.floats(-100, 100))
def test_normalise_is_clamped_and_monotone(value: float, target: float, floor: float):
    if abs(target - floor) < 1e-6:
        return
    s = normalise(value, target=target, floor=floor)
    assert 0 <= s <= 100
    nudged = normalise(value + 1, target=target, floor=floor)
    assert (nudged >= s) if target > floor else (nudged <= s)


# -- one quarter end to end --------------------------------------------------------------------

def test_scorecard_end_to_end():
    f = facts(projects=3, win_rate=[1, 0, 1, 1], satisfaction=[4.0, 5.0], first_pass_rate=[1, 0],
              rework_count=1, recognition=1, documents=3, trainings=1, sharing_sessions=0,
              certifications=1, skill_improvements=0)
    card = score_quarter("E1", Q4, f, SETTINGS)
    by = {m.metric: m for m in card.metrics}
    assert by[Metric.PROJECTS].value == 3 and by[Metric.PROJECTS].score == 50
    assert by[Metric.WIN_RATE].value == 0.75 and by[Metric.WIN_RATE].score == 100
    assert by[Metric.SATISFACTION].value == 4.5 and by[Metric.SATISFACTION].score == 100
    assert by[Metric.FIRST_PASS_RATE].score == 0  # 50% is the floor
    assert by[Metric.REWORK_COUNT].score == 75
    assert by[Metric.RECOGNITION].score == 50
    assert by[Metric.PROJECTS].sources == ("projects-0", "projects-1", "projects-2")
    assert card.dimensions[Dimension.CONTRIBUTION] == pytest.approx(250 / 3, abs=1e-3)
    assert card.dimensions[Dimension.QUALITY] == pytest.approx(125 / 3, abs=1e-3)
    assert card.dimensions[Dimension.KNOWLEDGE] == pytest.approx(100 * (1 + 0.5 + 0) / 3, abs=1e-3)
    assert card.dimensions[Dimension.LEARNING] == 50
    expected = (40 * 250 / 3 + 30 * 125 / 3 + 20 * 50 + 10 * 50) / 100
    assert card.score == round(expected, 1) == 60.8
    assert card.band is Band.PASS and card.final_band is Band.PASS


def test_rates_without_facts_are_left_out_not_zero():
    card = score_quarter("E1", Q4, facts(projects=6), SETTINGS)
    assert card.metric(Metric.WIN_RATE).value is None
    assert card.metric(Metric.SATISFACTION).score is None
    assert card.dimensions[Dimension.CONTRIBUTION] == 100  # projects alone
    # nothing reviewed: no rework score either (not a free 100), quality from recognition only
    assert card.metric(Metric.REWORK_COUNT).value is None
    assert card.dimensions[Dimension.QUALITY] == 0


def test_nothing_done_scores_zero_and_fails():
    card = score_quarter("E1", Q4, {}, SETTINGS)
    assert card.score == 0 and card.band is Band.FAIL


def test_weights_change_the_score():
    f = facts(projects=6, documents=0)
    default = score_quarter("E1", Q4, f, SETTINGS).score
    heavy = KpiSettings(weights={"contribution": 70, "quality": 10, "knowledge": 10, "learning": 10})
    assert default == 40 and score_quarter("E1", Q4, f, heavy).score == 70


def test_metric_weight_inside_a_dimension():
    s = KpiSettings(metrics={**SETTINGS.metrics, Metric.PROJECTS: {"target": 6, "weight": 3}})
    card = score_quarter("E1", Q4, facts(projects=6, win_rate=[0]), s)
    assert card.dimensions[Dimension.CONTRIBUTION] == 75


def test_behaviour_component_80_20():
    s = KpiSettings(behaviour={"enabled": True, "weight": 20})
    f = facts(projects=6)
    assert score_quarter("E1", Q4, f, s, behaviour=90).score == round(0.8 * 40 + 0.2 * 90, 1)
    assert score_quarter("E1", Q4, f, s).score == 40  # no behaviour score given: KPI alone
    assert score_quarter("E1", Q4, f, SETTINGS, behaviour=90).score == 40  # disabled
    with pytest.raises(ValueError, match="between 0 and 100"):
        score_quarter("E1", Q4, f, s, behaviour=120)


@pytest.mark.parametrize(("score", "band"), [
    (100, Band.EXCELLENT), (85, Band.EXCELLENT), (84.9, Band.GOOD), (75, Band.GOOD), (60, Band.PASS),
    (59.9, Band.FAIL), (0, Band.FAIL)])
def test_quarterly_bands(score: float, band: Band):
    assert quarter_band(score, SETTINGS) is band


def test_calibration_is_kept_apart_from_the_computed_band():
    card = score_quarter("E1", Q4, facts(projects=6), SETTINGS, calibrated=Band.GOOD)
    assert (card.score, card.band, card.calibrated, card.final_band) == (40, Band.FAIL, Band.GOOD, Band.GOOD)
    with pytest.raises(ValueError, match="quarter is rated"):
        score_quarter("E1", Q4, {}, SETTINGS, calibrated=Band.OUTSTANDING)


# -- the annual rule ------------------------------------------------------------------------

def quarter(q: int, score: float, calibrated: Band | None = None) -> Scorecard:
    return Scorecard("E1", f"2026Q{q}", (), dict.fromkeys(Dimension, score), score, None, score,
                     quarter_band(score, SETTINGS), calibrated)


YEAR = Period(2026)


def test_year_is_the_mean_of_the_scored_quarters():
    card = score_year("E1", YEAR, [quarter(1, 80), quarter(2, 70), quarter(3, 90)], SETTINGS)
    assert card.score == 80 and card.band is Band.GOOD
    assert card.quarters == {"2026Q1": 80, "2026Q2": 70, "2026Q3": 90}


def test_outstanding_needs_three_excellent_quarters():
    assert score_year("E1", YEAR, [quarter(q, 95) for q in (1, 2, 3, 4)], SETTINGS).band is Band.OUTSTANDING
    two = [quarter(1, 100), quarter(2, 100), quarter(3, 84), quarter(4, 84)]  # mean 92, two 优秀
    assert score_year("E1", YEAR, two, SETTINGS).band is Band.EXCELLENT
    # a calibration to 优秀 counts as an excellent quarter
    calibrated = [*two[:3], quarter(4, 84, calibrated=Band.EXCELLENT)]
    assert score_year("E1", YEAR, calibrated, SETTINGS).band is Band.OUTSTANDING


def test_failed_quarters_cap_or_fail_the_year():
    one = [quarter(1, 100), quarter(2, 100), quarter(3, 100), quarter(4, 50)]  # mean 87.5 -> 优秀
    assert score_year("E1", YEAR, one, SETTINGS).band is Band.GOOD
    two = [quarter(1, 100), quarter(2, 100), quarter(3, 55), quarter(4, 55)]  # mean 77.5
    assert score_year("E1", YEAR, two, SETTINGS).band is Band.FAIL
    low = [quarter(1, 62), quarter(2, 50)]  # mean 56 -> 不合格 by score; the cap never raises
    assert score_year("E1", YEAR, low, SETTINGS).band is Band.FAIL


def test_year_needs_its_own_distinct_quarters():
    with pytest.raises(ValueError, match="no quarterly scorecard"):
        score_year("E1", YEAR, [], SETTINGS)
    with pytest.raises(ValueError, match="distinct quarters"):
        score_year("E1", YEAR, [quarter(1, 80), quarter(1, 80)], SETTINGS)
    other = Scorecard("E1", "2025Q4", (), {}, 1, None, 1, Band.FAIL)
    with pytest.raises(ValueError, match="distinct quarters"):
        score_year("E1", YEAR, [other], SETTINGS)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=4))
def test_annual_band_never_beats_the_score_band(scores: list[float]):
    card = score_year("E1", YEAR, [quarter(i + 1, s) for i, s in enumerate(scores)], SETTINGS)
    order = list(Band)
    from presales_sync.rules.kpi import annual_band_by_score
    assert order.index(card.band) >= order.index(annual_band_by_score(card.score, SETTINGS))
    assert min(scores) - 0.05 <= card.score <= max(scores) + 0.05


# -- settings ----------------------------------------------------------------------------------

def test_shipped_kpi_yaml_is_the_default():
    assert KpiSettings.model_validate(yaml.safe_load(KPI_YAML.read_text(encoding="utf-8"))) == SETTINGS


@pytest.mark.parametrize(("change", "message"), [
    ({"weights": {"contribution": 40, "quality": 30, "knowledge": 20, "learning": 20}}, "sum to 100"),
    ({"weights": {"contribution": 70, "quality": 30}}, "missing knowledge, learning"),
    ({"quarterly_bands": {"优秀": 70, "良好": 75, "合格": 60}}, "must decrease"),
    ({"quarterly_bands": {"优秀": 85, "良好": 75}}, "exactly 优秀, 良好, 合格"),
    ({"annual_bands": {"卓越": 90, "优秀": 82, "良好": 72, "合格": 160}}, "between 0 and 100"),
    ({"metrics": {"projects": {"target": 6}}}, "metrics: missing"),
    ({"metrics": {**{m.value: {"target": 1} for m in Metric}, "projects": {"target": 0}}}, "must differ"),
    ({"behaviour": {"enabled": True, "weight": 100}}, "less than 100"),
    ({"weight": {}}, "Extra inputs"),
])  # fmt: skip
def test_bad_settings_are_refused(change: dict, message: str):
    with pytest.raises(ValidationError, match=message):
        KpiSettings.model_validate(change)
