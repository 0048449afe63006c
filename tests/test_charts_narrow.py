"""Charts stay legible at 420 px: no count label is drawn where the figure cuts it off."""

from __future__ import annotations

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
from tests.test_rollout_support import user, users

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
