"""Judge Canary: one look at the canary against the current variant; the decision record goes to S3."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import JudgeInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.evaluate import evaluate_canary
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    output, _ = evaluate_canary(
        JudgeInput.model_validate(event),
        metrics=wiring.metrics(),
        records=wiring.artifacts(),
        bucket=get_settings().require("artifact_bucket"),
    )
    logger.info(
        "canary judged", extra={"verdict": output.verdict, "action": output.action, "record": output.record_uri}
    )
    return output.model_dump(mode="json")
