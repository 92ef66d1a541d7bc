"""`mlrollout publish` shows Plan's estimate once, as soon as the deployment record has it."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from mlrollout.contracts import PhasePlan, PlanEstimate
from mlrollout_cli.publish import Published, follow

PUBLISHED = Published("m", "v2", "b", "models/m/v2/model.tar.gz", "ver-2", "ab" * 32, "m-abababababab")
ESTIMATE = PlanEstimate(
    requests_per_minute=120,
    error_rate=0.01,
    traffic_minutes=60,
    phases=[
        PhasePlan(
            phase="10%",
            kind="step",
            percent=10,
            minutes=20,
            deadline_minutes=30,
            within_deadline=True,
            why="200 candidate requests at 12/minute",
        ),
        PhasePlan(
            phase="50%",
            kind="step",
            percent=50,
            minutes=45,
            deadline_minutes=30,
            within_deadline=False,
            why="the proof",
        ),
    ],
    total_minutes=65,
    decides_in_time=False,
    warning="the 50% phase needs about 45 minutes.",
).model_dump(mode="json")


class Records:
    """The deployment records, one answer a look (the last one repeated)."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)

    def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {PUBLISHED.deployment_id: answer}


def record(**fields: Any) -> dict[str, Any]:
    return {"deployment_id": PUBLISHED.deployment_id, "artifact": PUBLISHED.uri, "artifact_version": "ver-2"} | fields


@pytest.mark.unit
def test_publish_prints_the_estimate_once_when_the_record_has_it() -> None:
    decision = {"step": 0, "weight": 10.0, "verdict": "INCONCLUSIVE", "action": "continue", "reason": "Baking."}
    looks = Records(
        record(state="deploying"),
        record(state="deploying", estimate=ESTIMATE),
        record(state="deploying", estimate=ESTIMATE, decisions=[decision]),
        record(state="rolled_back", outcome="rolled_back", reason="deadline", estimate=ESTIMATE, decisions=[decision]),
    )
    console = Console(record=True, width=400, markup=False)

    follow(looks, PUBLISHED, console, interval=0, timeout=None, start_timeout=1)  # type: ignore[arg-type]

    assert console.export_text().splitlines() == [
        "m-abababababab: deploying the candidate",
        "  expected: ~65 min to promote a healthy candidate at 120 requests/minute (1.00% errors, last 60 min)",
        "    10%: ~20 min (200 candidate requests at 12/minute)",
        "    50%: ~45 min (the proof, past its 30-minute deadline)",
        "    WARNING: the 50% phase needs about 45 minutes.",
        "  step 1 at 10%: INCONCLUSIVE, continue: Baking.",
        "m-abababababab: rolled back: deadline",
    ]
