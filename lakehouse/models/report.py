"""The training report: one self-contained HTML file (inline SVG charts, no scripts, no network).

It shows the test metrics and confusion matrix, ROC and PR curves, the calibration plot, feature
importance (the learner's own kinds: LightGBM's gain and split, a forest's impurity, a linear
model's coefficients), the search (a leaderboard of every trial and the curve of the best
validation metric against elapsed time), the parameters, the split and the Delta versions of the
tables the model was trained on.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from lakehouse.display import HTML_STYLE, html_table

WIDTH, HEIGHT, PAD = 320, 260, 40


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    markers: bool = False,
) -> str:
    """An SVG chart of lines over [0, 1] x [0, 1] (curves, calibration)."""
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def point(x: float, y: float) -> str:
        return f"{PAD + x * inner_w:.1f},{HEIGHT - PAD - y * inner_h:.1f}"

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' role='img'>"]
    parts.append(
        f"<rect x='{PAD}' y='{PAD}' width='{inner_w}' height='{inner_h}' fill='none' stroke='#999'/>"
    )
    for tick in (0, 0.5, 1):
        x, y = point(tick, 0).split(",")
        parts.append(f"<text x='{x}' y='{HEIGHT - PAD + 14}' text-anchor='middle'>{tick}</text>")
        x, y = point(0, tick).split(",")
        parts.append(f"<text x='{PAD - 6}' y='{float(y) + 3:.1f}' text-anchor='end'>{tick}</text>")
    parts.append(f"<text x='{WIDTH / 2}' y='{HEIGHT - 6}' text-anchor='middle'>{html.escape(x_label)}</text>")
    parts.append(
        f"<text x='12' y='{HEIGHT / 2}' text-anchor='middle' transform='rotate(-90 12 {HEIGHT / 2})'>"
        f"{html.escape(y_label)}</text>"
    )
    if diagonal:
        parts.append(
            f"<polyline points='{point(0, 0)} {point(1, 1)}' fill='none' stroke='#bbb' stroke-dasharray='4'/>"
        )
    for index, (name, points) in enumerate(series.items()):
        colour = colours[index % len(colours)]
        clipped = [(min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)) for x, y in points]
        path = " ".join(point(x, y) for x, y in clipped)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='1.8'/>")
        if markers:
            for x, y in clipped:
                cx, cy = point(x, y).split(",")
                parts.append(f"<circle cx='{cx}' cy='{cy}' r='2.5' fill='{colour}'/>")
        parts.append(
            f"<text x='{PAD + 6}' y='{PAD + 14 + 12 * index}' fill='{colour}'>{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(values: Mapping[str, float], label: str) -> str:
    """Horizontal SVG bars, largest first (feature importance)."""
    items = sorted(values.items(), key=lambda item: item[1], reverse=True)
    top = max((v for _, v in items), default=0.0) or 1.0
    row, left, width = 16, 150, 240
    height = row * len(items) + 30
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{left + width + 70}' height='{height}' role='img'>"
    ]
    parts.append(f"<text x='0' y='12'>{html.escape(label)}</text>")
    for index, (name, value) in enumerate(items):
        y = 20 + index * row
        bar = width * value / top
        parts.append(f"<text x='{left - 6}' y='{y + 11}' text-anchor='end'>{html.escape(name)}</text>")
        parts.append(f"<rect x='{left}' y='{y + 2}' width='{bar:.1f}' height='{row - 4}' fill='#1f77b4'/>")
        parts.append(f"<text x='{left + bar + 4:.1f}' y='{y + 11}'>{value:,.1f}</text>")
    parts.append("</svg>")
    return "".join(parts)


LEARNER_COLOURS = {"lightgbm": "#1f77b4", "random_forest": "#2ca02c", "linear": "#d62728"}


def _best_so_far(
    done: Sequence[tuple[float, float, str]], x_high: float, lower_is_better: bool
) -> list[tuple[float, float]]:
    """The corners of the best-so-far step line through ``done`` (end time, metric, learner)."""
    best: float | None = None
    steps: list[tuple[float, float]] = []
    for x, y, _ in done:
        if best is None or (y < best if lower_is_better else y > best):
            if best is not None:
                steps.append((x, best))
            best = y
            steps.append((x, best))
    steps.append((x_high, best))
    return steps


def search_curve(trials: Sequence[Mapping[str, Any]], metric: str, lower_is_better: bool) -> str:
    """An SVG of each trial's validation metric at the time it ended (a dot per trial, coloured
    by learner) and the best so far (a step line), over seconds since the search began."""
    done = sorted(
        (float(t["started"]) + float(t["seconds"]), float(t["metric"]), t.get("learner", "lightgbm"))
        for t in trials
        if t["metric"] == t["metric"]  # NaN left out
    )
    if not done:
        return ""
    xs, ys = [d[0] for d in done], [d[1] for d in done]
    x_high = max(xs) or 1.0
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    width, height = 2 * WIDTH, HEIGHT
    inner_w, inner_h = width - 2 * PAD - 20, height - 2 * PAD

    def point(x: float, y: float) -> tuple[float, float]:
        return PAD + 20 + x / x_high * inner_w, height - PAD - (y - y_low) / (y_high - y_low) * inner_h

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    parts.append(
        f"<rect x='{PAD + 20}' y='{PAD}' width='{inner_w}' height='{inner_h}' fill='none' stroke='#999'/>"
    )
    for fraction in (0, 0.5, 1):
        x, _ = point(fraction * x_high, y_low)
        parts.append(
            f"<text x='{x:.1f}' y='{height - PAD + 14}' text-anchor='middle'>{fraction * x_high:.0f}</text>"
        )
        value = y_low + fraction * (y_high - y_low)
        _, y = point(0, value)
        parts.append(f"<text x='{PAD + 16}' y='{y + 3:.1f}' text-anchor='end'>{value:.4g}</text>")
    parts.append(
        f"<text x='{width / 2}' y='{height - 6}' text-anchor='middle'>seconds since the search began</text>"
    )
    parts.append(f"<text x='{PAD + 20}' y='{PAD - 8}'>validation {html.escape(metric)}</text>")
    steps = [point(x, y) for x, y in _best_so_far(done, x_high, lower_is_better)]
    parts.append(
        "<polyline points='"
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in steps)
        + "' fill='none' stroke='#333' stroke-width='1.8'/>"
    )
    for x, y, learner in done:
        cx, cy = point(x, y)
        colour = LEARNER_COLOURS.get(learner, "#9467bd")
        parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='3' fill='{colour}' fill-opacity='0.7'/>")
    for index, learner in enumerate(sorted({d[2] for d in done})):
        colour = LEARNER_COLOURS.get(learner, "#9467bd")
        y = PAD + 14 + 12 * index
        parts.append(f"<text x='{width - PAD - 90}' y='{y}' fill='{colour}'>{html.escape(learner)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _leaderboard(facts: Mapping[str, Any], lower_is_better: bool) -> list[str]:
    """The search section: what ran, per learner, every trial best first, and the curve."""
    trials = facts.get("trials") or []
    metric = facts["metric"]
    search = facts.get("search") or {}
    body = [f"<h2>Search: {len(trials)} trials</h2>"]
    if search:
        budget = search.get("budget_seconds")
        body.append(
            f"<p>Strategy {html.escape(str(search.get('strategy')))}; "
            f"{search.get('seconds')} s{f' of a {budget:g} s budget' if budget else ''}; "
            f"{search.get('trials_at_once')} trials at once.</p>"
        )

    def rank_key(trial: Mapping[str, Any]) -> float:
        value = float(trial["metric"])
        if value != value:
            return float("inf")
        return value if lower_is_better else -value

    body += _by_learner(trials, metric, search, rank_key)
    # an average of confirmed trials has a k-fold metric too: it is not one of them
    confirmed = [t for t in trials if t.get("cross_validated") is not None and t.get("learner") != "ensemble"]
    if confirmed:
        body.append(_confirmation(len(confirmed), metric, search))
    body.append("<h3>Leaderboard (every trial, best first)</h3>")
    kept = facts.get("best_trial")
    kept_index = trials[kept]["index"] if kept is not None and trials else None
    body.append(_trials_table(sorted(trials, key=rank_key), metric, bool(confirmed), kept_index))
    curve = search_curve(trials, metric, lower_is_better) if len(trials) > 1 else ""
    if curve:
        body.append(
            f"<figure>{curve}<figcaption>Search curve: each trial's validation {html.escape(metric)} "
            "and the best so far</figcaption></figure>"
        )
    return body


def _by_learner(trials: list, metric: str, search: Mapping[str, Any], rank_key: Any) -> list[str]:
    """Per learner (when several ran, or AutoML chose): its trials, best metric and seconds."""
    learners: dict[str, list[Mapping[str, Any]]] = {}
    for trial in trials:
        learners.setdefault(trial.get("learner", "lightgbm"), []).append(trial)
    if len(learners) <= 1 and search.get("strategy") != "automl":
        return []
    rows = [
        [
            learner,
            len(runs),
            min(runs, key=rank_key)["metric"],
            round(sum(float(t["seconds"]) for t in runs), 1),
        ]
        for learner, runs in sorted(learners.items(), key=lambda item: rank_key(min(item[1], key=rank_key)))
    ]
    return [html_table(["learner", "trials", f"best validation {metric}", "seconds"], rows)]


def _confirmation(confirmed: int, metric: str, search: Mapping[str, Any]) -> str:
    """How AutoML's top trials were confirmed on folds, refitted and averaged."""
    return (
        f"<p>The validation split is small: the top {confirmed} trials were fitted again on "
        f"{search.get('folds') or 0} folds of the training and validation rows, and the one with the "
        f"best mean held-out {html.escape(metric)} was kept (column k-fold)."
        + (
            " The kept configuration was then fitted again on the training and validation rows "
            "together: that fit is the model judged on test and registered (its threshold and "
            "validation figures are those of the fit on the training rows)."
            if search.get("refitted")
            else ""
        )
        + (
            f" The kept model is the weighted average of {search['averaged_trials']} of them "
            "(the trial named ensemble, its members and weights as its parameters): on the folds' "
            "held-out rows it beat the best of them alone."
            if search.get("averaged_trials")
            else ""
        )
        + "</p>"
    )


def _trials_table(ranked: list, metric: str, confirmed: bool, kept_index: Any) -> str:
    """Every trial, best first, the kept one marked."""
    return html_table(
        [
            "rank",
            "trial",
            "learner",
            "parameters",
            f"validation {metric}",
            *([f"k-fold {metric}"] if confirmed else []),
            "best iteration",
            "seconds",
            "started at s",
        ],
        [
            [
                rank + 1,
                t["index"],
                t.get("learner", "lightgbm"),
                ", ".join(f"{k}={_short(v)}" for k, v in sorted(t["searched"].items())),
                t["metric"],
                *([_blank_if_none(t.get("cross_validated"))] if confirmed else []),
                "" if t.get("best_iteration") is None else t["best_iteration"],
                t["seconds"],
                t.get("started", ""),
            ]
            for rank, t in enumerate(ranked)
        ],
        best=next((i for i, t in enumerate(ranked) if t["index"] == kept_index), None),
    )


def _blank_if_none(value: Any) -> Any:
    return "" if value is None else value


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_training_report(facts: Mapping[str, Any]) -> str:
    """The HTML report of one training run.

    Args:
        facts: ``model``, ``version``, ``task``, ``metric``, ``test`` and ``validation`` (metrics),
            ``confusion`` (tp, fp, tn, fn) or None, ``roc`` and ``pr`` (points) or None,
            ``calibration`` (rows) or None, ``importance`` ({feature: {gain, split}}),
            ``trials`` (dicts: index, learner, searched params, validation metric, best iteration,
            seconds, started), ``best_trial``, ``search`` (strategy, budget_seconds, seconds,
            trials_at_once), ``lower_is_better`` (the metric's direction),
            ``params``, ``split`` (boundaries and rows per split), ``data_versions``, ``promotion``;
            optionally ``classes`` (the target's value per class number), ``class_confusion`` and
            ``per_class`` (multiclass), ``notes`` (what the data preparation left out) and
            ``missing`` (label rows without a feature row, per feature table and split).
    """
    name, version = facts["model"], facts["version"]
    body = [f"<h1>Model {html.escape(name)}, version {version}</h1>"]
    body.append(
        f"<p>Task: {html.escape(facts['task'])}. "
        f"Selection and promotion metric: {html.escape(facts['metric'])}. "
        f"Promotion: {html.escape(facts['promotion'])}.</p>"
    )
    metric_names = sorted(set(facts["test"]) | set(facts["validation"]))
    body.append("<h2>Metrics</h2>")
    body.append(
        html_table(
            ["metric", "validation", "test"],
            [[m, facts["validation"].get(m, ""), facts["test"].get(m, "")] for m in metric_names],
        )
    )
    body += _classes(facts) + _confusion(facts) + _curves(facts) + _importance(facts)
    if facts.get("trials"):
        body += _leaderboard(facts, bool(facts.get("lower_is_better")))
    body += _data_notes(facts)
    body.append("<h2>Parameters</h2>")
    body.append(html_table(["parameter", "value"], sorted(facts["params"].items())))
    body.append("<h2>Data</h2>")
    body.append(html_table(["split", "value"], sorted(facts["split"].items())))
    body.append(html_table(["table", "Delta version"], sorted(facts["data_versions"].items())))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Model {html.escape(name)} v{version}</title><style>{HTML_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _classes(facts: Mapping[str, Any]) -> list[str]:
    """The classes of a classification, and a multiclass model's confusion matrix and per-class figures."""
    body: list[str] = []
    classes = facts.get("classes") or []
    if classes:
        body.append("<h2>Classes</h2>")
        body.append(html_table(["class number", "target value"], list(enumerate(classes))))
    class_confusion = facts.get("class_confusion")
    if class_confusion:
        body.append("<h2>Confusion matrix on test (rows: actual, columns: predicted)</h2>")
        body.append(
            html_table(
                ["", *[f"predicted {label}" for label in classes]],
                [[f"actual {label}", *row] for label, row in zip(classes, class_confusion, strict=True)],
            )
        )
        per_class = facts.get("per_class") or []
        body.append(
            html_table(
                ["class", "rows", "precision", "recall", "f1"],
                [
                    [label, int(c["rows"]), c["precision"], c["recall"], c["f1"]]
                    for label, c in zip(classes, per_class, strict=True)
                ],
            )
        )
    return body


def _confusion(facts: Mapping[str, Any]) -> list[str]:
    """A binary model's confusion matrix at its threshold."""
    body: list[str] = []
    confusion = facts.get("confusion")
    if confusion:
        body.append(f"<h2>Confusion matrix on test at threshold {facts['test'].get('threshold', 0):.3f}</h2>")
        body.append(
            html_table(
                ["", "predicted 1", "predicted 0"],
                [
                    ["actual 1", confusion["tp"], confusion["fn"]],
                    ["actual 0", confusion["fp"], confusion["tn"]],
                ],
            )
        )
    return body


def _curves(facts: Mapping[str, Any]) -> list[str]:
    """ROC, precision-recall and calibration curves on test, when the model has them."""
    body: list[str] = []
    charts = []
    if facts.get("roc"):
        charts.append(
            ("ROC curve (test)", line_chart({"test": facts["roc"]}, "false positive rate", "recall", True))
        )
    if facts.get("pr"):
        charts.append(
            ("Precision-recall curve (test)", line_chart({"test": facts["pr"]}, "recall", "precision"))
        )
    if facts.get("calibration"):
        points = [(row["mean_score"], row["positive_rate"]) for row in facts["calibration"]]
        charts.append(
            (
                "Calibration (test)",
                line_chart({"model": points}, "mean predicted", "observed rate", True, True),
            )
        )
    if charts:
        body.append("<h2>Curves</h2><div class=charts>")
        body += [
            f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>" for title, svg in charts
        ]
        body.append("</div>")
    return body


def _importance(facts: Mapping[str, Any]) -> list[str]:
    """Feature importance, one bar chart per kind (gain, split)."""
    body: list[str] = []
    importance = facts.get("importance") or {}
    if importance:
        kinds = list(next(iter(importance.values())))
        body.append("<h2>Feature importance</h2><div class=charts>")
        for kind in kinds:
            svg = bar_chart({f: v[kind] for f, v in importance.items()}, f"total {kind}")
            body.append(f"<figure>{svg}<figcaption>{html.escape(kind)}</figcaption></figure>")
        body.append("</div>")
    return body


def _data_notes(facts: Mapping[str, Any]) -> list[str]:
    """What the data preparation left out, and the label rows without a feature row."""
    body: list[str] = []
    notes = facts.get("notes") or []
    if notes:
        body.append("<h2>Notes on the data</h2><ul>")
        body += [f"<li>{html.escape(note)}</li>" for note in notes]
        body.append("</ul>")
    missing = facts.get("missing") or {}
    if missing:
        body.append("<h2>Label rows without a feature row</h2>")
        splits = ["train", "validation", "test"]
        body.append(
            html_table(
                ["feature table", *splits],
                [[table, *[m.get(s, 0) for s in splits]] for table, m in missing.items()],
            )
        )
    return body
