"""The functions' environment (set by template.yaml), parsed once per container into one model."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    stack_name: str = Field("mlrollout", description="STACK_NAME: prefixes the alarms the stack creates.")
    artifact_bucket: str | None = Field(None, description="ARTIFACT_BUCKET: where models, capture and records live.")
    alerts_topic_arn: str | None = Field(None, description="ALERTS_TOPIC_ARN: the SNS topic operators follow.")
    sagemaker_role_arn: str | None = Field(None, description="SAGEMAKER_ROLE_ARN: the role models run as.")
    dashboard_name: str | None = Field(None, description="DASHBOARD_NAME: linked from alerts.")
    model_monitor_image: str | None = Field(None, description="MODEL_MONITOR_IMAGE: analyzer image override.")
    slack_secret_name: str | None = Field(None, description="SLACK_SECRET_NAME: the secret holding the webhook URL.")
    slack_min_severity: str = Field("info", description="SLACK_MIN_SEVERITY: info, warning or critical.")
    schedule_group: str | None = Field(None, description="SCHEDULE_GROUP: the Scheduler group of drift schedules.")
    drift_function_arn: str | None = Field(None, description="DRIFT_FUNCTION_ARN: what drift schedules run.")
    scheduler_role_arn: str | None = Field(None, description="SCHEDULER_ROLE_ARN: the role schedules invoke as.")
    state_table: str | None = Field(None, description="STATE_TABLE: alert memory and idempotency records.")
    violations_cooldown_minutes: int = Field(
        360, ge=0, description="VIOLATIONS_COOLDOWN_MINUTES: quiet time between Model Monitor violation alerts."
    )
    deployments_table: str | None = Field(None, description="DEPLOYMENTS_TABLE: one record per upload.")
    rollout_state_machine_arn: str | None = Field(
        None, description="ROLLOUT_STATE_MACHINE_ARN: where restores of stopped rollouts run."
    )
    lease_minutes: float | None = Field(
        None,
        gt=0,
        description="LEASE_MINUTES: an endpoint lease's life between renewals; unset, it is sized from the endpoint "
        "wait and the evaluation interval (domain/ledger.lease_minutes).",
    )
    endpoint_recheck_seconds: int = Field(
        600, ge=1, description="ENDPOINT_RECHECK_SECONDS: the EndpointRecheckSeconds parameter."
    )
    endpoint_wait_minutes: int = Field(
        60, ge=1, description="ENDPOINT_WAIT_MINUTES: the EndpointWaitMinutes parameter."
    )
    endpoint_poll_seconds: int = Field(
        30, ge=1, description="ENDPOINT_POLL_SECONDS: the EndpointPollSeconds parameter (a rollback's look interval)."
    )
    rollback_max_polls: int = Field(
        120, ge=1, description="ROLLBACK_MAX_POLLS: the RollbackMaxPolls parameter (a rollback's looks at most)."
    )
    max_artifact_mib: int = Field(10240, ge=1, description="MAX_ARTIFACT_MIB: largest artifact accepted.")
    reconcile_lookback_minutes: float = Field(
        60, gt=0, description="RECONCILE_LOOKBACK_MINUTES: how far back the reconciler looks for ended executions."
    )
    execution_timeout_seconds: int = Field(
        86400, gt=0, description="EXECUTION_TIMEOUT_SECONDS: the state machine's TimeoutSeconds (its longest run)."
    )
    model_vpc_ids: list[str] | None = Field(
        None,
        description="MODEL_VPC_IDS: the ModelVpcIds parameter, the VPCs the SageMaker role may place models in "
        "(empty: none); unset, validation does not check.",
    )
    model_kms_key_arns: list[str] | None = Field(
        None,
        description="MODEL_KMS_KEY_ARNS: the ModelKmsKeyArns parameter, the KMS keys the SageMaker role may use "
        "(empty: none); unset, validation does not check.",
    )
    default_bake_minutes: float | None = None
    default_canary_steps: list[float] | None = None
    default_max_error_rate: float | None = None
    default_max_p99_latency_ms: float | None = None
    default_min_requests: int | None = None

    @field_validator("default_canary_steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()] or None
        return value

    @field_validator("model_vpc_ids", "model_kms_key_arns", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # a CommaDelimitedList parameter, joined with commas ("" when empty)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "artifact_bucket",
        "alerts_topic_arn",
        "sagemaker_role_arn",
        "dashboard_name",
        "model_monitor_image",
        "slack_secret_name",
        "schedule_group",
        "drift_function_arn",
        "scheduler_role_arn",
        "state_table",
        "deployments_table",
        "rollout_state_machine_arn",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return value or None

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            raise SettingsError(
                f"environment variable {field.upper()} is not set; template.yaml sets it for the functions that "
                "need it (redeploy the stack, or set it when invoking the handler locally)"
            )
        return str(value)

    def stack_defaults(self) -> dict[str, Any]:
        """The stack parameters as a partial rollout.yaml that each model's own file overrides."""
        strategy: dict[str, Any] = {}
        judge: dict[str, Any] = {}
        if self.default_bake_minutes is not None:
            strategy["bake_minutes"] = self.default_bake_minutes
        if self.default_canary_steps is not None:
            strategy["steps"] = self.default_canary_steps
        if self.default_max_error_rate is not None:
            judge["max_error_rate"] = self.default_max_error_rate
        if self.default_max_p99_latency_ms is not None:
            judge["max_p99_latency_ms"] = self.default_max_p99_latency_ms
        if self.default_min_requests is not None:
            judge["min_requests"] = self.default_min_requests
        return {key: value for key, value in (("strategy", strategy), ("judge", judge)) if value}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The function's settings, parsed once per container: Lambda fixes a function's environment for the life of
    its execution environment."""
    wanted = {name.upper() for name in Settings.model_fields}
    try:
        return Settings.model_validate({k.lower(): v for k, v in os.environ.items() if k in wanted})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"the function's environment is invalid: {problems}") from None
