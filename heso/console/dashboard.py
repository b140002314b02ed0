"""``/dashboard``: the team's figures (``heso.decisions.stats``) as server-rendered SVG charts,
each with its numbers in a table. No script, no style attribute: SVG presentation attributes only."""

from __future__ import annotations

from typing import Any

from flask import Response

from heso.console.base import blp, page, principal, render
from heso.decisions import stats

#: Fill per outcome (AA contrast against white for the legend's swatches' neighbours' text).
COLOURS = {"open": "#b7791f", "approved": "#2f855a", "denied": "#c53030", "modified": "#2b6cb0",
           "answered": "#6b46c1", "expired": "#718096", "cancelled": "#a0aec0"}
URGENCY_COLOURS = {"critical": "#9b2c2c", "high": "#c53030", "medium": "#b7791f", "low": "#4a5568"}
DELIVERY_COLOURS = {"delivered": "#2f855a", "failed": "#c53030", "dead": "#9b2c2c", "in_flight": "#a0aec0"}

WIDTH, HEIGHT, BAR_GAP = 560, 200, 6


def _day_bars(per_day: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked bars, one per day: each segment's x, y, width, height and fill."""
    peak = max([row["total"] for row in per_day] + [1])
    slot = WIDTH / len(per_day)
    bars = []
    for index, row in enumerate(per_day):
        y, segments = float(HEIGHT), []
        for outcome in stats.OUTCOMES:
            if row[outcome]:
                height = row[outcome] / peak * HEIGHT
                y -= height
                segments.append({"outcome": outcome, "count": row[outcome], "y": round(y, 2),
                                 "height": round(height, 2), "fill": COLOURS[outcome]})
        bars.append({"day": row["day"], "label": row["day"][5:], "x": round(index * slot + BAR_GAP / 2, 2),
                     "width": round(slot - BAR_GAP, 2), "center": round(index * slot + slot / 2, 2),
                     "total": row["total"], "segments": segments})
    return {"bars": bars, "peak": peak}


def _horizontal(values: dict[str, float | int | None], colours: dict[str, str]) -> list[dict[str, Any]]:
    """One horizontal bar per value, scaled to the largest."""
    peak = max([value or 0 for value in values.values()] + [1])
    return [{"name": name, "value": value, "width": round((value or 0) / peak * (WIDTH - 200), 2),
             "y": index * 28, "fill": colours[name]} for index, (name, value) in enumerate(values.items())]


def duration(seconds: float | None) -> str:
    """``95`` → ``1 min 35 s``; ``0.2`` → ``under 1 s``; None → ``–``."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if seconds < 1:
        return "under 1 s"
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _plain(value: float | None) -> str:
    return "–" if value is None else str(value)


@blp.route("/dashboard")
@page("ops", "viewer")
def dashboard() -> Response:
    figures = stats.dashboard(principal().team_id)
    took = figures["time_to_decision"]
    deliveries = figures["deliveries"]
    return render("console/dashboard.html", title="Dashboard", figures=figures, outcomes=stats.OUTCOMES,
                  colours=COLOURS, days=_day_bars(figures["per_day"]), width=WIDTH, height=HEIGHT,
                  took_bars=_horizontal({"median": took["median_seconds"], "p90": took["p90_seconds"]},
                                        {"median": "#2b6cb0", "p90": "#2c5282"}),
                  pending_bars=_horizontal(figures["pending"], URGENCY_COLOURS),
                  delivery_bars=_horizontal({name: deliveries[name] for name in DELIVERY_COLOURS}, DELIVERY_COLOURS),
                  duration=duration, plain=_plain)
