"""The plan's estimate against the benchmark: expected minutes to promote a healthy candidate (domain/estimate.py)
next to the simulated median of the product's whole rollouts (run.run_rollout_cell) at the shipped defaults.

    python -m mlrollout_bench.estimate_check [--seeds 200] [--rps 5 50 500]

Issue 11's target: at 5 rps the estimate within 30% of the measured median time to promote. The simulator's
traffic is the estimate's input at its mean (rps x 60 requests a minute, the base 5XX rate); its daily cycle,
bursts and noise are what the estimate leaves out.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlrollout.domain.config import Judge, Strategy
from mlrollout.domain.estimate import Traffic, estimate
from mlrollout_bench.run import ESTIMATE_WITHIN, RolloutTask, rollout_numbers, run_rollout_cell
from mlrollout_bench.simulate import SCENARIO_BY_NAME, SimConfig

TARGET_RPS = 5.0
TARGET_WITHIN = ESTIMATE_WITHIN
LEVELS = (5.0, 50.0, 500.0)


@dataclass(frozen=True)
class EstimateCheck:
    rps: float
    estimated_minutes: float | None
    simulated_median_minutes: float | None  # None: more than half of the runs were not promoted
    promoted_rate: float
    runs: int

    @property
    def relative_error(self) -> float | None:
        if self.estimated_minutes is None or not self.simulated_median_minutes:
            return None
        return self.estimated_minutes / self.simulated_median_minutes - 1

    @property
    def within_target(self) -> bool:
        error = self.relative_error
        return error is not None and abs(error) <= TARGET_WITHIN


def check(rps: float, seeds: Sequence[int], config: SimConfig | None = None) -> EstimateCheck:
    """The estimate and the simulated median minutes to promote a healthy candidate at `rps`, shipped defaults."""
    config = config or SimConfig()
    planned = estimate(Traffic(rps * 60, config.base_5xx), Judge(), Strategy(), with_options=False)
    cell = run_rollout_cell(RolloutTask(SCENARIO_BY_NAME["no_regression"], rps, tuple(seeds), config))
    numbers = rollout_numbers(cell.outcomes["product"])
    return EstimateCheck(
        rps=rps,
        estimated_minutes=planned.total_minutes,
        simulated_median_minutes=numbers["median_minutes_to_promote"],
        promoted_rate=numbers["promoted_rate"],
        runs=numbers["runs"],
    )


def check_levels(levels: Sequence[float] = LEVELS, seeds: int = 200) -> list[EstimateCheck]:
    """For the lead's report: one check per traffic level, on seeds 0..seeds-1 (the benchmark's rollout seeds start
    elsewhere, so these streams are its own)."""
    return [check(rps, range(seeds)) for rps in levels]


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--rps", type=float, nargs="+", default=list(LEVELS))
    args = parser.parse_args(argv)
    for result in check_levels(args.rps, args.seeds):
        error = result.relative_error
        target = f" (target at {TARGET_RPS:g} rps: within {TARGET_WITHIN:.0%})" if result.rps == TARGET_RPS else ""
        print(
            f"{result.rps:g} rps: estimate {_fmt(result.estimated_minutes)} min, simulated median "
            f"{_fmt(result.simulated_median_minutes)} min over {result.runs} runs (promoted {result.promoted_rate:.1%})"
            f", error {'-' if error is None else f'{error:+.1%}'}{target}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
