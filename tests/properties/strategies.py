"""Hypothesis strategies: live accounts and specs small enough to run hundreds of times."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
NAMES = [f"widget-{letter}" for letter in "abcdefgh"] + ["legacy-one", "legacy-two"]

hostnames = st.lists(
    st.sampled_from(
        ["example.com", "Example.COM", "a.example.com", "b.example.org", "203.0.113.7"]
    ),
    min_size=1,
    max_size=4,
)
settings_strategy = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["non-interactive", "invisible", "managed"]),
        "domains": hostnames,
        "region": st.sampled_from(["world", "china"]),
        "clearance_level": st.sampled_from(
            ["no_clearance", "jschallenge", "managed", "interactive"]
        ),
        "offlabel": st.booleans(),
        "bot_fight_mode": st.booleans(),
    },
)
live_settings = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["non-interactive", "invisible", "managed"]),
        "domains": hostnames,
        "region": st.sampled_from(["world", "china"]),
        "clearance_level": st.sampled_from(["no_clearance", "managed"]),
    }
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    live_names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=6))
    live = [{**draw(live_settings), "name": name} for name in live_names]
    spec_names = draw(st.lists(st.sampled_from(NAMES[:8]), unique=True, max_size=6))
    widgets = []
    for name in spec_names:
        entry = {"name": name, **draw(settings_strategy)}
        if name not in live_names:
            entry.setdefault("mode", "managed")
            entry.setdefault("domains", ["example.com"])
        widgets.append(entry)
    spec = {
        "account_id": ACCOUNT,
        "prune": draw(st.booleans()),
        "ignore": ["legacy-*"],
        "defaults": draw(settings_strategy),
        "widgets": widgets,
    }
    return live, spec
