"""The training report: one self-contained HTML file (inline SVG charts, no scripts, no network).

It shows the test metrics and confusion matrix, ROC and PR curves, the calibration plot, feature
importance (gain and split), the search's trials, the parameters, the time split and the Delta
versions of the tables the model was trained on.
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


def render_training_report(facts: Mapping[str, Any]) -> str:
    """The HTML report of one training run.

    Args:
        facts: ``model``, ``version``, ``task``, ``metric``, ``test`` and ``validation`` (metrics),
            ``confusion`` (tp, fp, tn, fn) or None, ``roc`` and ``pr`` (points) or None,
            ``calibration`` (rows) or None, ``importance`` ({feature: {gain, split}}),
            ``trials`` (dicts: params, validation metric, best iteration, seconds), ``best_trial``,
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
    importance = facts.get("importance") or {}
    if importance:
        body.append("<h2>Feature importance</h2><div class=charts>")
        for kind in ("gain", "split"):
            svg = bar_chart({f: v[kind] for f, v in importance.items()}, f"total {kind}")
            body.append(f"<figure>{svg}<figcaption>{kind}</figcaption></figure>")
        body.append("</div>")
    trials = facts.get("trials") or []
    if trials:
        keys = sorted({k for trial in trials for k in trial["searched"]})
        body.append(f"<h2>Search: {len(trials)} trials</h2>")
        body.append(
            html_table(
                ["trial", *keys, f"validation {facts['metric']}", "best iteration", "seconds"],
                [
                    [
                        t["index"],
                        *[t["searched"].get(k, "") for k in keys],
                        t["metric"],
                        t["best_iteration"],
                        t["seconds"],
                    ]
                    for t in trials
                ],
                best=facts.get("best_trial"),
            )
        )
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
