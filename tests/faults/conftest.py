"""The fault-injection suite: each scenario records duplicates, losses, outcome and message, and
the table of all scenarios is printed at the end of the test session."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Outcome:
    scenario: str
    duplicates: int
    losses: int
    outcome: str  # "ok" or the error's class
    message: str


OUTCOMES: list[Outcome] = []


@pytest.fixture
def record_outcome():
    def record(outcome: Outcome) -> Outcome:
        OUTCOMES.append(outcome)
        return outcome

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not OUTCOMES:
        return
    rows = [("scenario", "duplicates", "losses", "outcome", "message")]
    rows += [(o.scenario, str(o.duplicates), str(o.losses), o.outcome, o.message[:110]) for o in OUTCOMES]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    terminalreporter.section("fault scenarios")
    for row in rows:
        terminalreporter.write_line(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )
