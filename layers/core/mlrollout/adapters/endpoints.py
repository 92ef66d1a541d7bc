"""SageMaker hosting: models, endpoint configs, endpoints, and invoking one variant directly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.endpoint_change import IN_PROGRESS
from mlrollout.domain.errors import ChangeRefused, EndpointChanging
from mlrollout.domain.rollback import EndpointObservation
from mlrollout.ports import InvokeResult, ModelNetwork


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model: str
    instance_type: str
    instance_count: int
    weight: float

    def as_api(self) -> dict[str, Any]:
        return {
            "VariantName": self.name,
            "ModelName": self.model,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": self.instance_count,
            "InitialVariantWeight": self.weight,
        }


def _not_found(exc: ClientError) -> bool:
    message = error_message(exc).lower()
    return error_code(exc) in {"ValidationException", "ResourceNotFound"} and (
        "could not find" in message or "does not exist" in message or "not found" in message
    )


def _refused(endpoint: str, exc: ClientError) -> ChangeRefused:
    """A refused change in the domain's terms: services never see botocore's errors."""
    operation = getattr(exc, "operation_name", "the change")
    return ChangeRefused(
        f"SageMaker refused {operation} of endpoint {endpoint}: {error_code(exc)}: {error_message(exc)}"
    )


class SageMakerEndpoints:
    def __init__(self, sagemaker: Any, runtime: Any | None = None) -> None:
        self.sm = sagemaker
        self.runtime = runtime

    # reads ------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every endpoint's name (ListEndpoints, 100 a page)."""
        found: list[str] = []
        for page in self.sm.get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 100}):
            found.extend(str(e["EndpointName"]) for e in page.get("Endpoints", []))
        return found

    def describe(self, endpoint: str) -> dict[str, Any] | None:
        """DescribeEndpoint as SageMaker answers it (variants' weights and instance counts, a pending update);
        None when there is no such endpoint."""
        try:
            described: dict[str, Any] = self.sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return described

    def observe(self, endpoint: str) -> EndpointObservation:
        try:
            described = self.sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            if _not_found(exc):
                return EndpointObservation(exists=False)
            raise
        return EndpointObservation(
            exists=True,
            status=described.get("EndpointStatus"),
            config_name=described.get("EndpointConfigName"),
            weights={
                v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0)))
                for v in described.get("ProductionVariants", [])
            },
            failure_reason=described.get("FailureReason"),
            instance_counts={
                v["VariantName"]: int(v["CurrentInstanceCount"])
                for v in described.get("ProductionVariants", [])
                if v.get("CurrentInstanceCount") is not None
            },
        )

    def config_variants(self, config_name: str) -> list[dict[str, Any]]:
        variants: list[dict[str, Any]] = self.sm.describe_endpoint_config(EndpointConfigName=config_name)[
            "ProductionVariants"
        ]
        return variants

    def config_exists(self, config_name: str) -> bool:
        try:
            self.sm.describe_endpoint_config(EndpointConfigName=config_name)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def model_exists(self, model_name: str) -> bool:
        try:
            self.sm.describe_model(ModelName=model_name)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    # writes -----------------------------------------------------------------------------------------
    def create_model(
        self,
        name: str,
        image: str,
        model_data_url: str,
        environment: dict[str, str],
        role_arn: str,
        tags: dict[str, str],
        *,
        network: ModelNetwork | None = None,
    ) -> None:
        if self.model_exists(name):
            return
        network = network or ModelNetwork()
        self.sm.create_model(
            ModelName=name,
            PrimaryContainer={
                "Image": image,
                "ModelDataUrl": model_data_url,
                "Environment": environment,
                **network.container_fields(),
            },
            ExecutionRoleArn=role_arn,
            Tags=_tags(tags),
            **network.model_fields(),
        )

    def create_config(
        self,
        name: str,
        variants: list[dict[str, Any]],
        capture: dict[str, Any] | None,
        tags: dict[str, str],
        *,
        shadow_variants: list[dict[str, Any]] | None = None,
        kms_key: str | None = None,
    ) -> None:
        """CreateEndpointConfig, unless it exists. `capture` None: no DataCaptureConfig (a serverless endpoint's
        config, which SageMaker does not capture data for)."""
        if self.config_exists(name):
            return
        optional: dict[str, Any] = {"ShadowProductionVariants": shadow_variants} if shadow_variants else {}
        if kms_key:
            optional["KmsKeyId"] = kms_key
        if capture is not None:
            optional["DataCaptureConfig"] = capture
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=variants,
            Tags=_tags(tags),
            **optional,
        )

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        try:
            self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name, Tags=_tags(tags))
        except ClientError as exc:
            raise _refused(name, exc) from exc

    def update_endpoint(self, name: str, config_name: str, *, retain_variant_properties: bool = False) -> None:
        """`retain_variant_properties`: a variant of the same name keeps its current instance count and weight
        (RetainAllVariantProperties), as an auto-scaled variant must."""
        retain = {"RetainAllVariantProperties": True} if retain_variant_properties else {}
        self._change(name, lambda: self.sm.update_endpoint(EndpointName=name, EndpointConfigName=config_name, **retain))

    def set_weights(self, name: str, weights: dict[str, float]) -> None:
        desired = [{"VariantName": v, "DesiredWeight": w} for v, w in weights.items()]
        self._change(
            name,
            lambda: self.sm.update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=desired
            ),
        )

    def set_capacity(self, name: str, variant: str, instances: int) -> None:
        """One variant's instance count (UpdateEndpointWeightsAndCapacities' DesiredInstanceCount: "capacity of one
        variant", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpointWeightsAndCapacities.html)."""
        desired = [{"VariantName": variant, "DesiredInstanceCount": instances}]
        self._change(
            name,
            lambda: self.sm.update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=desired
            ),
        )

    def _change(self, name: str, call: Callable[[], Any]) -> None:
        """Make a change, telling a refusal because another change is in progress (EndpointChanging) from any other.

        An auto scaling activity puts the endpoint in Updating too
        (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html), and SageMaker refuses a change
        meanwhile. Told by the endpoint's status after the refusal, not by its wording (no AWS page documents it).
        InService by then: the other change may have ended between the refusal and the look, so the call is made
        once more; refused again, the refusal is AWS's."""
        for attempt in (1, 2):
            try:
                call()
                return
            except ClientError as exc:
                if error_code(exc) != "ValidationException":
                    raise _refused(name, exc) from exc
                try:
                    status = self.observe(name).status
                except ClientError:  # the look after the refusal failed too: the refusal is what to report
                    raise _refused(name, exc) from exc
                if status in IN_PROGRESS:
                    raise EndpointChanging(
                        f"SageMaker refused to change endpoint {name} while it is {status}, another change in progress "
                        f"(an auto scaling activity or an operator's update): {error_message(exc)}",
                        fix="nothing, when it ends the step is tried again; if it never ends, inspect the endpoint "
                        "(DescribeEndpoint, and the variant's DescribeScalingActivities)",
                    ) from exc
                if status != "InService" or attempt == 2:
                    raise _refused(name, exc) from exc

    def delete_endpoint(self, name: str) -> None:
        try:
            self.sm.delete_endpoint(EndpointName=name)
        except ClientError as exc:
            if not _not_found(exc):
                raise _refused(name, exc) from exc

    def delete_config(self, name: str) -> bool:
        try:
            self.sm.delete_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def delete_model(self, name: str) -> bool:
        try:
            self.sm.delete_model(ModelName=name)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    # data plane -------------------------------------------------------------------------------------
    def invoke_variant(self, endpoint: str, variant: str, body: str, content_type: str, accept: str) -> InvokeResult:
        if self.runtime is None:
            raise RuntimeError("SageMakerEndpoints was built without a sagemaker-runtime client")
        started = time.perf_counter()
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=endpoint,
                TargetVariant=variant,
                Body=body.encode(),
                ContentType=content_type,
                Accept=accept,
            )
        except ClientError as exc:
            details: dict[str, Any] = dict(exc.response)
            status = int(details.get("OriginalStatusCode") or details["ResponseMetadata"]["HTTPStatusCode"])
            return InvokeResult(
                ok=False,
                status=status,
                body=error_message(exc),
                variant=variant,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        payload = response["Body"].read().decode("utf-8", errors="replace")
        return InvokeResult(
            ok=True,
            status=200,
            body=payload,
            variant=response.get("InvokedProductionVariant", variant),
            latency_ms=(time.perf_counter() - started) * 1000,
        )


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
