"""A rollout's timeline as a picture: traffic shares, error rates and p99 latency per variant, and decisions."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlrollout_sandbox.dataplane import MinuteStats


@dataclass(frozen=True)
class Decision:
    at: datetime
    label: str
    kind: str  # "shift", "verdict", "promote", "rollback"


# pyplot keeps one global state: two scenarios drawing at once (the demo runs two side by side) take turns.
_PYPLOT = threading.Lock()


def render(
    path: Path,
    *,
    title: str,
    minutes: list[MinuteStats],
    decisions: list[Decision],
    started: datetime,
    instances: bool = False,
) -> Path:
    with _PYPLOT:
        return _render(path, title=title, minutes=minutes, decisions=decisions, started=started, instances=instances)


def _render(
    path: Path,
    *,
    title: str,
    minutes: list[MinuteStats],
    decisions: list[Decision],
    started: datetime,
    instances: bool,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    variants = sorted({m.variant for m in minutes})
    totals: dict[datetime, int] = {}
    for m in minutes:
        # A shadow variant's copies are extra requests: its line shows the share of requests copied to it.
        if not m.shadow:
            totals[m.minute] = totals.get(m.minute, 0) + m.invocations
    rows_of = 4 if instances else 3
    figure, axes = plt.subplots(rows_of, 1, figsize=(10, 8 + 2 * (rows_of - 3)), sharex=True)
    traffic, errors, latency = axes[:3]
    colours = dict(zip(variants, ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"], strict=False))
    for variant in variants:
        rows = sorted((m for m in minutes if m.variant == variant), key=lambda m: m.minute)
        x = [(m.minute - started).total_seconds() / 60 for m in rows]
        share = [100 * m.invocations / totals[m.minute] if totals.get(m.minute) else 0 for m in rows]
        traffic.step(x, share, where="post", label=variant, color=colours[variant])
        served = [(xi, m) for xi, m in zip(x, rows, strict=True) if m.invocations]
        errors.plot(
            [xi for xi, _ in served],
            [100 * m.errors_5xx / m.invocations for _, m in served],
            marker=".",
            label=variant,
            color=colours[variant],
        )
        p99 = [(xi, m.percentile(99)) for xi, m in served]
        latency.plot(
            [xi for xi, v in p99 if v is not None],
            [v / 1000 for _, v in p99 if v is not None],
            marker=".",
            label=variant,
            color=colours[variant],
        )
    if instances:
        # Each variant's CurrentInstanceCount minute by minute: auto scaling following the traffic.
        fleet = axes[3]
        for variant in variants:
            rows = sorted((m for m in minutes if m.variant == variant and m.instances), key=lambda m: m.minute)
            fleet.step(
                [(m.minute - started).total_seconds() / 60 for m in rows],
                [m.instances for m in rows],
                where="post",
                label=variant,
                color=colours[variant],
            )
        fleet.set_ylabel("instances")
    traffic.set_ylabel("traffic share (%)")
    traffic.set_ylim(-5, 105)
    errors.set_ylabel("5XX error rate (%)")
    latency.set_ylabel("ModelLatency p99 (ms)")
    axes[-1].set_xlabel("sandbox minutes since upload")
    styles = {
        "shift": ("#888888", ":"),
        "verdict": ("#555555", "--"),
        "promote": ("#2ca02c", "-"),
        "rollback": ("#d62728", "-"),
    }
    for decision in decisions:
        at = (decision.at - started).total_seconds() / 60
        colour, line = styles.get(decision.kind, ("#555555", "--"))
        for axis in axes:
            axis.axvline(at, color=colour, linestyle=line, linewidth=0.9)
        traffic.annotate(
            decision.label,
            xy=(at, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
            color=colour,
        )
    for axis in axes:
        axis.grid(alpha=0.3)
        if variants:
            axis.legend(loc="upper left", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
