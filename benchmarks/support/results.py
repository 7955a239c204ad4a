"""Writing a benchmark's results file: ``benchmarks/results/<name>.json``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from benchmarks.support.machine import machine

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def seconds_figures(times: dict[str, list[float]], warmup: dict[str, float]) -> dict[str, Any]:
    """Best seconds of each side, every run's seconds and the warm-up's, rounded to 10 ms."""
    figures: dict[str, Any] = {f"{side}_s": round(min(values), 2) for side, values in times.items()}
    figures.update({f"all_{side}_s": [round(t, 2) for t in values] for side, values in times.items()})
    figures["warmup_s"] = {side: round(value, 2) for side, value in warmup.items()}
    return figures


def write_results(
    name: str, quick: bool, data: dict, figures: dict, ratio: float, goal: str, met: bool, **extra
) -> Path:
    """Write the results with the time and the machine; return the file."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "data": data,
        "figures": figures,
        "ratio": ratio,
        "goal": goal,
        "met": met,
        **extra,
        "machine": machine(),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
