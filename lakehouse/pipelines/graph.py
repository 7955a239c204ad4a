"""A pipeline's tasks as a graph: dependency order, cycles, downstream closure, date templates.

Pure functions of names and edges, free of Spark and of the configuration, so that the loader
validates a pipeline with them and the runner plans with them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence

# {date}, {date-1}, {date+7}: the logical date, optionally shifted by whole days
TEMPLATE = re.compile(r"\{([^{}]*)\}")
_DATE = re.compile(r"^date(?:([+-])(\d+))?$")


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``task -> tasks it waits for``, as ``[a, b, ..., a]``, or None when there is none.

    Dependencies on names missing from ``edges`` are ignored (reported elsewhere).
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for upstream in edges.get(node, ()):
            if upstream not in edges:
                continue
            if state.get(upstream) == 1:
                return [*path[path.index(upstream) :], upstream]
            if upstream not in state:
                found = visit(upstream)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def dependency_order(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Every task after the tasks it waits for; ties keep the declared order.

    Raises:
        ValueError: the graph has a cycle.
    """
    cycle = find_cycle(edges)
    if cycle:
        raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
    done: list[str] = []
    remaining = list(edges)
    while remaining:
        ready = next(task for task in remaining if all(up in done for up in edges[task] if up in edges))
        done.append(ready)
        remaining.remove(ready)
    return done


def downstream(edges: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` and every task that waits for one of them, directly or not."""
    chosen = set(roots)
    grew = True
    while grew:
        grew = False
        for task, upstream in edges.items():
            if task not in chosen and chosen.intersection(upstream):
                chosen.add(task)
                grew = True
    return chosen


def template_problems(value: object) -> list[str]:
    """What is wrong with the ``{...}`` placeholders of a parameter value (empty: nothing)."""
    if not isinstance(value, str):
        return []
    return [
        f"unknown placeholder {{{name}}}; use {{date}}, {{date-N}} or {{date+N}} (days)"
        for name in TEMPLATE.findall(value)
        if not _DATE.match(name.strip())
    ]


def uses_date(value: object) -> bool:
    """True when a parameter value refers to the logical date."""
    return isinstance(value, str) and bool(TEMPLATE.search(value))


def render(value: object, date: dt.date | None) -> str:
    """A parameter value as the string a job receives, with ``{date}``-style placeholders filled.

    Raises:
        ValueError: the value has a placeholder but the run has no logical date.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)

    def fill(match: re.Match[str]) -> str:
        parsed = _DATE.match(match.group(1).strip())
        if parsed is None:
            raise ValueError(template_problems(match.group(0))[0])
        if date is None:
            raise ValueError(f"{value!r} needs a logical date: give --date, or --start and --end")
        sign, days = parsed.groups()
        shift = int(days or 0) * (-1 if sign == "-" else 1)
        return (date + dt.timedelta(days=shift)).isoformat()

    return TEMPLATE.sub(fill, value)
