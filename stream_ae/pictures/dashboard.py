"""A picture of the Grafana dashboard: every panel's queries, run against a real
Prometheus over a time range, drawn with matplotlib in the dashboard's own layout.

No Grafana server runs here; this shows what the panels show, from the same PromQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

QueryRange = Callable[[str, float, float, float], list[dict[str, Any]]]
"""(expr, start, end, step seconds) -> Prometheus matrix result."""

GRID_COLUMNS = 24
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def panel_queries(panel: dict[str, Any], rate_interval: str, series: str) -> list[tuple[str, str]]:
    """(PromQL, legend format) of a panel, with Grafana's variables filled in."""
    return [
        (
            t["expr"].replace("$__rate_interval", rate_interval).replace("$series", series),
            t.get("legendFormat", ""),
        )
        for t in panel["targets"]
    ]


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: `{{name}}` becomes the label's value.

    >>> legend("{{series}} score", {"series": "pump-1"})
    'pump-1 score'
    """
    text = _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template)
    return text or ", ".join(f"{k}={v}" for k, v in labels.items() if k != "__name__")


def human(value: float, unit: str, decimals: int | None = None) -> str:
    """A stat panel's number, as Grafana would print it.

    >>> human(5400.0, "s"), human(0.25, "s"), human(1234.0, "short"), human(7.003, "short", 0)
    ('1.5 h', '250 ms', '1234', '7')
    """
    if math.isnan(value):
        return "no data"
    if decimals is not None and unit != "s":
        return f"{value:.{decimals}f}"
    if unit == "s":
        for size, name in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
            if abs(value) >= size:
                return f"{value / size:.3g} {name}"
        return f"{value * 1000:.3g} ms"
    return f"{value:.4g}"


def render_dashboard(
    board: dict[str, Any],
    query_range: QueryRange,
    start: float,
    end: float,
    out: Path,
    *,
    rate_interval: str = "15s",
    series: str = ".+",
) -> dict[str, bool]:
    """Draw every panel of `board` over [start, end]; returns whether each had data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = board["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(18, rows * 0.45))
    step = max(1.0, (end - start) / 300)
    had_data: dict[str, bool] = {}
    for panel in panels:
        g = panel["gridPos"]
        left, width = g["x"] / GRID_COLUMNS, g["w"] / GRID_COLUMNS
        top, height = 1 - g["y"] / rows, g["h"] / rows
        ax = fig.add_axes((left + 0.035, top - height + 0.03, width - 0.05, height - 0.055))
        title = panel["title"].replace("$series", "watched")
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        unit, decimals = defaults.get("unit", "short"), defaults.get("decimals")
        results = [
            (template, query_range(expr, start, end, step))
            for expr, template in panel_queries(panel, rate_interval, series)
        ]
        had_data[panel["title"]] = any(matrix for _, matrix in results)
        draw = {"timeseries": _timeseries, "stat": _stat, "table": _table}[panel["type"]]
        draw(ax, results, start, unit, decimals)
        if panel["type"] == "timeseries":
            ax.set_xlim(0, (end - start) / 60)
    fig.suptitle(f"{board['title']}: {board.get('description', '')}", fontsize=11, y=0.999)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return had_data


Results = list[tuple[str, list[dict[str, Any]]]]


def _timeseries(ax: Any, results: Results, start: float, unit: str, decimals: int | None) -> None:
    for template, matrix in results:
        for entry in matrix:
            t = [(float(v[0]) - start) / 60 for v in entry["values"]]
            y = [float(v[1]) for v in entry["values"]]
            dashed = "threshold" in template
            ax.plot(
                t,
                y,
                linestyle="--" if dashed else "-",
                lw=1.2,
                label=legend(template, entry["metric"]),
            )
    if not ax.lines:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("minutes", fontsize=8)
    ax.set_ylabel({"ops": "per second", "s": "seconds"}.get(unit, ""), fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left", ncols=2)


def _stat(ax: Any, results: Results, start: float, unit: str, decimals: int | None) -> None:
    # One number per series at the end of the range, side by side, each under its legend.
    shown = [
        (legend(template, entry["metric"]), float(entry["values"][-1][1]))
        for template, matrix in results
        for entry in matrix
    ] or [("", math.nan)]
    for i, (label, value) in enumerate(shown):
        x = (i + 0.5) / len(shown)
        size = 28 if len(shown) == 1 else 20
        ax.text(x, 0.5, human(value, unit, decimals), ha="center", va="center", fontsize=size)
        if len(shown) > 1:
            ax.text(x, 0.2, label, ha="center", va="center", fontsize=9)
    ax.set_axis_off()


def _table(ax: Any, results: Results, start: float, unit: str, decimals: int | None) -> None:
    # What the table shows at the end of the range: series still reporting then.
    entries = [entry for _, matrix in results for entry in matrix]
    last = max((float(e["values"][-1][0]) for e in entries), default=0.0)
    rows = [
        {k: v for k, v in e["metric"].items() if k != "__name__"}
        for e in entries
        if float(e["values"][-1][0]) == last
    ]
    ax.set_axis_off()
    if not rows:
        ax.text(0.5, 0.5, "no data", ha="center", va="center")
        return
    columns = sorted({k for row in rows for k in row})
    table = ax.table(
        cellText=[[row.get(c, "") for c in columns] for row in rows],
        colLabels=columns,
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
