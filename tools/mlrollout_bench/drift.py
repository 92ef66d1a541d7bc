"""Drift benchmark: how long the builtin backend's analysis takes per window, and what memory it holds.

Synthetic SageMaker data-capture JSONL (numeric and categorical inputs, one output) is analysed against a
baseline built from a separate sample, exactly as the Detect Drift function does after reading S3: the lines
stream through `DriftAnalyzer.add_capture`, then `report()` and the per-feature scoring. Reported per window size:
median and p90 wall time over repeats, records per second, and the peak Python memory the analysis allocated
(tracemalloc), which stays flat as the window grows because nothing holds the records.

    python -m mlrollout_bench.drift [--records 1000 5000 20000] [--features 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from mlrollout.domain.drift import DriftAnalyzer, baseline_from_capture_lines, read_baseline
from mlrollout.domain.drift_metrics import Thresholds, judge_window

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATEGORIES = ["grocery", "travel", "online", "fuel", "dining", "electronics"]


def capture_lines(records: int, features: int, *, seed: int, shift: float = 0.0) -> Iterator[str]:
    rng = random.Random(seed)
    numeric = max(1, features - 2)
    for i in range(records):
        request: dict[str, object] = {f"x{k}": round(rng.gauss(k + shift, 1.0), 4) for k in range(numeric)}
        request["merchant"] = rng.choice(CATEGORIES)
        request["channel"] = rng.choice(["web", "app", "pos"])
        response = {"score": round(rng.random(), 4)}
        at = (START + timedelta(seconds=i % 3600)).isoformat()
        yield json.dumps(
            {
                "captureData": {
                    "endpointInput": {"mode": "INPUT", "data": json.dumps(request), "encoding": "JSON"},
                    "endpointOutput": {"mode": "OUTPUT", "data": json.dumps(response), "encoding": "JSON"},
                },
                "eventMetadata": {
                    "eventId": str(i),
                    "inferenceTime": at,
                },
                "eventVersion": "0",
            }
        )


def measure(records: int, features: int, repeats: int) -> dict[str, float]:
    statistics_doc, constraints_doc = baseline_from_capture_lines(list(capture_lines(2000, features, seed=1)))
    baseline = read_baseline(statistics_doc, constraints_doc)
    lines = list(capture_lines(records, features, seed=2, shift=0.5))  # generated up front: not timed
    window = (START, START + timedelta(hours=1))
    thresholds = Thresholds(psi=0.2, js=0.1, missing_rate=0.05)
    times: list[float] = []
    peak = 0
    drifted = 0
    for attempt in range(repeats):
        if attempt == 0:
            tracemalloc.start()
        began = time.perf_counter()
        analyzer = DriftAnalyzer(baseline)
        analyzer.add_capture(iter(lines), window=window)
        verdict = judge_window(analyzer.report(), baseline, thresholds)
        times.append(time.perf_counter() - began)
        if attempt == 0:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        drifted = len(verdict.drifted)
    times.sort()
    median = statistics.median(times[1:] if len(times) > 1 else times)  # the first run also paid for tracemalloc
    return {
        "records": records,
        "features": features + 1,  # the inputs and the model's output
        "median_s": median,
        "p90_s": times[min(len(times) - 1, int(0.9 * len(times)))],
        "records_per_s": records / median,
        "peak_mib": peak / 2**20,
        "drifted_features": drifted,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print("| records | features | median s | p90 s | records/s | peak MiB (tracemalloc) | drifted |")
    print("|---|---|---|---|---|---|---|")
    for records in args.records:
        r = measure(records, args.features, args.repeats)
        print(
            f"| {r['records']:.0f} | {r['features']:.0f} | {r['median_s']:.3f} | {r['p90_s']:.3f} | "
            f"{r['records_per_s']:,.0f} | {r['peak_mib']:.2f} | {r['drifted_features']:.0f} |"
        )


if __name__ == "__main__":
    main()
