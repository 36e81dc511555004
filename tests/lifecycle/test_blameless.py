from __future__ import annotations

from triaged.incidents.blameless import scan


def test_blameful_phrases_are_flagged_with_a_suggestion() -> None:
    text = "\n".join(
        [
            "The outage was human error.",
            "Alice should have checked the config.",
            "It was caused by bob.",
            "A careless deploy.",
            "The deploy process had no config validation step.",
            "<!-- avoid writing 'human error' -->",
        ]
    )
    found = scan(text, people={"bob", "alice"})
    assert [(f.line, f.phrase.lower()) for f in found] == [
        (1, "human error"),
        (2, "alice should have"),
        (3, "caused by bob"),
        (4, "careless"),
    ]
    assert all(f.suggestion for f in found)


def test_systems_language_passes() -> None:
    assert scan("The pool was exhausted because DB_POOL_MAX defaulted to 5; caused by Redis failover.") == []
