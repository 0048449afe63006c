"""Country names for the ISO 3166 codes Graph's ``usageLocation`` holds, so a user with only a code is listed
as "Sweden" beside the users whose ``country`` says so, not as a second country "SE".

The names come from the IANA time zone database's ``iso3166.tab`` (shipped with the ``tzdata`` package that
pandas depends on), with the everyday English name where that file uses another.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["country_name", "country_names"]

_EVERYDAY = {"GB": "United Kingdom", "KR": "South Korea", "KP": "North Korea", "RU": "Russia",
             "VA": "Vatican City", "CZ": "Czechia", "TW": "Taiwan", "LA": "Laos", "SY": "Syria",
             "IR": "Iran", "VN": "Vietnam", "TZ": "Tanzania", "MD": "Moldova", "BO": "Bolivia",
             "VE": "Venezuela"}
_CODE = re.compile(r"[A-Z]{2}")


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):  # without the table, codes stay codes
        text = ""
    names = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "\t" in line:
            code, name = line.split("\t", 1)
            names[code.strip()] = name.strip()
    return names | _EVERYDAY


def country_name(value: str | None) -> str | None:
    """``"SE"`` → ``"Sweden"``; anything that is not a known two-letter code is returned as it is."""
    if isinstance(value, str) and _CODE.fullmatch(value.strip().upper()):
        return _names().get(value.strip().upper(), value)
    return value


def country_names(series: pd.Series) -> pd.Series:
    """:func:`country_name` over a column (each distinct value once)."""
    values = series.dropna().unique().tolist()
    mapping = {v: country_name(v) for v in values}
    if all(k == v for k, v in mapping.items()):
        return series
    return series.map(mapping).astype(series.dtype)
