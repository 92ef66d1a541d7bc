"""Judge Canary: one look at the canary against the current variant; the decision record goes to the log."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import JudgeInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.evaluate import evaluate_canary


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    output, record = evaluate_canary(JudgeInput.model_validate(event), metrics=wiring.metrics())
    logger.info("canary judged", extra={"decision_record": record})
    return output.model_dump(mode="json")
