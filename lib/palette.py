"""The console's colours, labels and plotly template: one colour per MFA state, everywhere.

Colours come from the Okabe–Ito palette (distinguishable with every common colour-vision
deficiency) plus two neutral greys. A colour means one thing across the app: vermillion is always
Disabled, orange always Enabled, bluish green always Enforced, mid grey always Unknown; no other
series uses those four. Fonts are sized for a projector at the back of a meeting room.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio

from lib.columns import STATES, UNKNOWN_STATE

STATE_ORDER: tuple[str, ...] = (*STATES, UNKNOWN_STATE)
"""Every state a chart shows, in lifecycle order, Unknown last."""

STATE_LABELS: dict[str, str] = {
    "disabled": "Disabled",
    "enabled": "Enabled",
    "enforced": "Enforced",
    UNKNOWN_STATE: "Unknown",
}

STATE_COLOURS: dict[str, str] = {
    "disabled": "#D55E00",  # Okabe–Ito vermillion
    "enabled": "#E69F00",  # Okabe–Ito orange
    "enforced": "#009E73",  # Okabe–Ito bluish green
    UNKNOWN_STATE: "#999999",  # neutral grey
}
"""State → colour, keyed like ``lib.columns.STATES`` plus ``unknown``."""

STATE_COLOURS_BY_LABEL: dict[str, str] = {STATE_LABELS[s]: STATE_COLOURS[s] for s in STATE_ORDER}
"""The same colours keyed by the label a trace or legend entry carries."""

REGISTERED_COLOUR = "#0072B2"  # Okabe–Ito blue: "has a registered second factor"
SCOPE_COLOUR = "#4D4D4D"  # dark grey: "all users in scope" (the top of the funnel)
PHISHING_RESISTANT_COLOUR = "#CC79A7"  # Okabe–Ito reddish purple
PHISHABLE_COLOUR = "#56B4E9"  # Okabe–Ito sky blue
NO_FACTOR_COLOUR = "#BBBBBB"  # light grey: "no second factor" (never used for a state)

OKABE_ITO: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000",
)

FONT_FAMILY = "Segoe UI, Helvetica Neue, Arial, sans-serif"
BASE_FONT_SIZE = 18
"""Body text of every chart; axis ticks are 16 and titles 22, all readable on a projector."""


def _template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        font={"family": FONT_FAMILY, "size": BASE_FONT_SIZE, "color": "#1A1A1A"},
        title={"font": {"size": 22}, "x": 0.0, "xanchor": "left"},
        colorway=list(OKABE_ITO),
        legend={"font": {"size": 16}, "orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0,
                "title": {"text": ""}},
        hoverlabel={"font": {"size": 16, "family": FONT_FAMILY}},
        margin={"l": 20, "r": 20, "t": 60, "b": 20},
        xaxis={"tickfont": {"size": 16}, "title": {"font": {"size": 18}}, "automargin": True},
        yaxis={"tickfont": {"size": 16}, "title": {"font": {"size": 18}}, "automargin": True},
        bargap=0.25,
        separators=".,",
    )
    return template


TEMPLATE: go.layout.Template = _template()
"""The plotly template every chart of the console uses (pass it as ``layout.template``)."""


def plain(text: object) -> str:
    """``text`` made safe for plotly's pseudo-HTML labels: tags from user data show as typed."""
    return html.escape(str(text), quote=False)
