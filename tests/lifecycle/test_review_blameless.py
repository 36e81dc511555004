"""The blameless check flags blame of people, not hindsight about systems: "should have"
counts only with a person or a pronoun as its subject; possessive blame, "X broke" and a
bare "because X" are caught; names are matched whole whatever letters they end in."""

from __future__ import annotations

import pytest

from triaged.incidents.blameless import scan

PEOPLE = {"ravi", "asha", "रवि", "asha🙂", "unknown", "triaged"}


@pytest.mark.parametrize(
    "text",
    [
        "A canary deploy would have caught this.",
        "The alert could have fired earlier.",
        "Retries should have been capped by the client library.",
        "The deploy broke checkout for ten minutes.",
        "The parser's error message did not name the key.",
        "The setting was changed by unknown at 02:00; it should have been validated.",
        "Paged because unknown acknowledged late.",
    ],
)
def test_systems_language_is_not_flagged(text: str) -> None:
    assert scan(text, PEOPLE) == []


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Ravi broke production by pushing a bad config.", "Ravi broke"),
        ("It was asha's mistake.", "asha's mistake"),
        ("Checkout failed because ravi skipped the checklist.", "because ravi"),
        ("Ravi should have checked the dashboard.", "Ravi should have"),
        ("We should've waited for the canary.", "We should've"),
        ("@ravi could have rolled back sooner.", "@ravi could have"),
        ("The outage was caused by रवि during the deploy.", "caused by रवि"),
        ("Broken by asha🙂 on Friday.", "Broken by asha🙂"),
    ],
)
def test_blaming_a_person_is_flagged(text: str, phrase: str) -> None:
    assert [f.phrase for f in scan(text, PEOPLE)] == [phrase]
