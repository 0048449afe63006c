"""Charts stay legible at 420 px: no count label is drawn where the figure cuts it off."""

from __future__ import annotations

import pandas as pd

from lib.charts import (
    method_strength_chart,
    method_strength_data,
    methods_chart,
    methods_data,
    rollout_funnel_chart,
    rollout_funnel_data,
    state_distribution_chart,
    state_distribution_data,
)
from tests.test_rollout_support import T0, user, users

FRAME = users(*(user(n, state="enforced" if n % 3 else "disabled", registered=bool(n % 2),
                     methods="fido2" if n % 2 else "", method_count=n % 2) for n in range(1, 1824)))


def test_bars_with_labels_outside_leave_room_for_them() -> None:
    for chart, data in ((state_distribution_chart, state_distribution_data(FRAME)),
                        (method_strength_chart, method_strength_data(FRAME))):
        figure = chart(data)
        top = max(max(trace.y) for trace in figure.data)
        low, high = figure.layout.yaxis.range
        assert low == 0 and high >= top * 1.2, (chart.__name__, top, high)
        assert all(trace.textposition == "outside" and trace.cliponaxis is False for trace in figure.data)
    methods = methods_chart(methods_data(FRAME))
    longest = max(max(trace.x) for trace in methods.data if len(trace.x))
    assert methods.layout.xaxis.range[1] >= longest * 1.5  # "407 (14.6%)" fits beside the longest bar


def test_the_funnel_keeps_its_labels_inside_each_stage() -> None:
    trace = rollout_funnel_chart(rollout_funnel_data(FRAME)).data[0]
    assert trace.textposition == "inside" and trace.constraintext == "both"


def test_the_coverage_chart_leaves_room_for_its_labels_and_puts_its_legend_below() -> None:
    from lib.protection_charts import coverage_chart, protection_trend_chart, protection_trend_data
    from lib.protection_kpis import coverage_group_data, protection_kpis

    frame = FRAME.assign(covered_by=["ca_all_apps" if n % 4 else "not_covered" for n in range(len(FRAME))])
    figure = coverage_chart(coverage_group_data(protection_kpis(frame, T0)))
    longest = max(max(trace.x) for trace in figure.data)
    assert figure.layout.xaxis.range[1] >= longest * 1.5  # "1,367 (75.0%)" fits beside the longest bar
    assert all(trace.textposition == "outside" and trace.cliponaxis is False for trace in figure.data)
    assert figure.layout.legend.y < 0  # under the bars: at 420 px a legend above would cover the first label
    # the long source names sit above their bars, not beside the axis, where they would squeeze the bars away
    assert figure.layout.yaxis.showticklabels is False
    assert [a.text for a in figure.layout.annotations] == ["Conditional Access (all cloud apps,<br>or blocked)",
                                                           "Not covered by MFA"]  # wrapped to fit 420 px
    assert all(a.x == 0 and a.xanchor == "left" for a in figure.layout.annotations)
    trend = protection_trend_chart(protection_trend_data(
        frame.assign(snapshot_id=1, removed=False), pd.DataFrame({"day": [T0], "snapshot_id": [1]})))
    assert trend.layout.xaxis.nticks == 4 and trend.layout.xaxis.tickangle == 0
