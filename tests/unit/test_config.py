from pathlib import Path

import pytest

from mlrollout.domain.config import RolloutConfig, load_config_text, parse_config
from mlrollout.domain.errors import ConfigInvalid
from support import ROOT

EXAMPLE = Path(__file__).parents[2] / "events" / "rollout.yaml"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"


def test_example_config_is_valid_and_complete() -> None:
    config = load_config_text(EXAMPLE.read_text(), model_name="fraud-scorer")
    assert config.endpoint_for("fraud-scorer") == "fraud-scorer"
    assert config.strategy.traffic_steps() == [10.0, 50.0]
    assert config.judge.max_p99_latency_ms == 500
    assert config.monitoring is not None and config.monitoring.drift_threshold == 0.1
    assert config.pre_traffic.sample_request is not None


def test_only_image_is_required_and_defaults_fill_the_rest() -> None:
    config = parse_config({"image": IMAGE}, model_name="m")
    assert config.endpoint_for("m") == "m"
    assert config.instance_type == "ml.m5.large"
    assert config.strategy.traffic_steps() == [10.0, 50.0]
    assert config.strategy.deadline_minutes == 40.0
    assert config.monitoring is None


def test_stack_defaults_sit_between_builtin_defaults_and_the_model_file() -> None:
    stack = {"strategy": {"bake_minutes": 3, "steps": [5, 25]}, "judge": {"min_requests": 50}}
    config = parse_config({"image": IMAGE, "strategy": {"bake_minutes": 7}}, model_name="m", stack_defaults=stack)
    assert config.strategy.bake_minutes == 7  # the model's file wins
    assert config.strategy.steps == [5, 25]  # the stack's default beats the built-in one
    assert config.judge.min_requests == 50


def test_every_schema_error_is_reported_with_its_field_path() -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(
            {
                "image": "not an image",
                "instance_type": "m5.large",
                "strategy": {"steps": [50, 10], "evaluation_interval_seconds": 90},
                "judge": {"max_error_rate": 2},
            },
            model_name="m",
        )
    message = str(raised.value)
    assert "5 problems" in message
    for path in (
        "image:",
        "instance_type:",
        "strategy.steps:",
        "strategy.evaluation_interval_seconds:",
        "judge.max_error_rate:",
    ):
        assert path in message
    assert "multiple of 60" in message
    assert "models/m/rollout.yaml" in message


def test_unknown_fields_are_rejected_with_a_suggestion() -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config({"image": IMAGE, "instance_typ": "ml.m5.large", "strategy": {"bake_minute": 3}}, model_name="m")
    message = str(raised.value)
    assert "instance_typ: unknown field; did you mean 'instance_type'?" in message
    assert "strategy.bake_minute: unknown field; did you mean 'bake_minutes'?" in message


def test_missing_image_is_named() -> None:
    with pytest.raises(ConfigInvalid, match="image: required field is missing"):
        parse_config({"instance_count": 2}, model_name="m")


def test_unparseable_yaml_names_the_line() -> None:
    with pytest.raises(ConfigInvalid, match=r"not valid YAML at line 2"):
        load_config_text("image: x\n  bad: [unclosed\n", model_name="m")


def test_a_yaml_list_is_not_a_config() -> None:
    with pytest.raises(ConfigInvalid, match="must be a YAML mapping"):
        load_config_text("- image\n", model_name="m")


@pytest.mark.parametrize(
    ("strategy", "steps"),
    [
        ({"type": "canary", "steps": [5, 20, 60]}, [5, 20, 60]),
        ({"type": "linear", "increment_percent": 25}, [25, 50, 75]),
        ({"type": "linear", "increment_percent": 30}, [30, 60, 90]),
        ({"type": "all_at_once"}, []),
    ],
)
def test_strategies_resolve_to_traffic_steps(strategy: dict[str, object], steps: list[float]) -> None:
    config = RolloutConfig.model_validate({"image": IMAGE, "strategy": strategy})
    assert config.strategy.traffic_steps() == steps


def test_deadline_cannot_precede_the_bake() -> None:
    with pytest.raises(ConfigInvalid, match="max_bake_minutes"):
        parse_config({"image": IMAGE, "strategy": {"bake_minutes": 10, "max_bake_minutes": 5}}, model_name="m")


def test_endpoint_name_follows_sagemaker_naming() -> None:
    with pytest.raises(ConfigInvalid, match="endpoint_name"):
        parse_config({"image": IMAGE, "endpoint_name": "bad_name"}, model_name="m")


MODEL_MONITOR = {
    "backend": "model-monitor",
    "baseline_statistics": "s3://my-bucket/baselines/m/statistics.json",
    "baseline_constraints": "s3://my-bucket/baselines/m/constraints.json",
}


@pytest.mark.parametrize(
    ("schedule", "runtime", "period"),
    [(None, 3601, 3600), ("cron(0 * ? * * *)", 7200, 3600), ("cron(0 */6 ? * * *)", 21601, 21600)],
)
def test_a_monitoring_job_longer_than_its_schedules_period_is_refused(
    schedule: str | None, runtime: int, period: int
) -> None:
    # "MaxRuntimeInSeconds cannot exceed the frequency of the job" (SageMaker's MonitoringStoppingCondition)
    monitoring = {**MODEL_MONITOR, "max_runtime_seconds": runtime, **({"schedule": schedule} if schedule else {})}
    with pytest.raises(
        ConfigInvalid, match=rf"max_runtime_seconds: {runtime} is longer than the schedule's period of {period} seconds"
    ):
        parse_config({"image": IMAGE, "monitoring": monitoring}, model_name="m")
    monitoring["max_runtime_seconds"] = period
    assert parse_config({"image": IMAGE, "monitoring": monitoring}, model_name="m").monitoring is not None


def test_a_daily_schedule_takes_a_day_long_job() -> None:
    monitoring = {**MODEL_MONITOR, "schedule": "cron(0 3 ? * * *)", "max_runtime_seconds": 86400}
    config = parse_config({"image": IMAGE, "monitoring": monitoring}, model_name="m")
    assert config.monitoring is not None and config.monitoring.period_seconds == 86400


def test_a_shadow_copies_every_request_and_says_why_no_other_share() -> None:
    config = parse_config({"image": IMAGE, "strategy": {"shadow": {}}}, model_name="m")
    assert config.strategy.shadow is not None and config.strategy.shadow.percent == 100
    phase = config.strategy.shadow_phase()
    assert (phase.bake_minutes, phase.deadline_minutes) == (10.0, 40.0)
    with pytest.raises(ConfigInvalid, match=r"strategy.shadow.percent: .*only 100 is supported: SageMaker documents"):
        parse_config({"image": IMAGE, "strategy": {"shadow": {"percent": 25}}}, model_name="m")


@pytest.mark.parametrize("example", sorted((ROOT / "docs" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_documented_example_is_a_valid_config(example: Path) -> None:
    import yaml

    parsed = parse_config(yaml.safe_load(example.read_text()), model_name="example")
    if "serverless" in example.name:
        assert parsed.serverless is not None and parsed.strategy.type == "all_at_once"
    if "autoscaled" in example.name:
        assert parsed.candidate_sizing == "share" and parsed.serverless is None
