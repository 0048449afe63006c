"""ISO country codes (Graph's usageLocation) become the names people use, and count with them."""

from __future__ import annotations

import pandas as pd

from lib.charts import breakdown_data
from lib.countries import country_name, country_names
from tests.test_rollout_support import user, users


def test_codes_become_names_and_names_stay() -> None:
    assert country_name("SE") == "Sweden" and country_name("GB") == "United Kingdom"
    assert country_name("Sweden") == "Sweden" and country_name(None) is None
    assert country_name("ZZ") == "ZZ"  # not a country code: shown as it came
    mixed = pd.Series(["SE", "Sweden", None, "DE"], dtype="string")
    assert country_names(mixed).tolist() == ["Sweden", "Sweden", pd.NA, "Germany"]


def test_a_code_counts_with_its_country_in_the_breakdown() -> None:
    frame = users(user(1, country="SE"), user(2, country="Sweden"), user(3, country="Norway"))
    data = breakdown_data(frame, "country")
    assert dict(zip(data["group"], data["users"], strict=True)) == {"Sweden": 2, "Norway": 1}
