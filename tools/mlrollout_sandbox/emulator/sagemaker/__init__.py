"""SageMaker for the sandbox: endpoints that take time, fail on demand and serve a pluggable data plane.

moto answers every endpoint call at once and leaves the endpoint "InService"; the rollout control plane is
mostly about what happens in between. This module makes endpoints move through Creating / Updating /
InService / Failed / Deleting on sandbox time (durations in DEFAULT_DURATIONS, each with its source; a deleted
endpoint stays Deleting, then DescribeEndpoint answers "Could not find endpoint"), refuses CreateModel with an
image outside Amazon ECR unless ImageConfig says Vpc (and Vpc without a VpcConfig), holds endpoint configs to
ProductionVariant's ranges and current instance types (and serverless variants to their ranges and exclusions:
one variant, no data capture, no update of an instance-based endpoint to serverless), adds what moto lacks
(UpdateEndpoint, shadow variants, monitoring schedules and executions), routes sagemaker-runtime InvokeEndpoint
to a data plane the sandbox supplies (a shadow variant gets a copy of the request, its answer discarded), and
injects the faults armed on `Emulator.faults`:

    operation                          matched on                                  modes
    sagemaker.create_endpoint          endpoint=<name>                             fail
    sagemaker.update_endpoint          endpoint=<name>, endpoint_config=<new>      fail, silent_rollback
    sagemaker.update_endpoint_weights  endpoint=<name>                             fail, silent_rollback
    sagemaker.api                      action=<Action>, service=<sagemaker|...>    throttle
    sagemaker.scaling_activity         action=<UpdateEndpoint|UpdateEndpoint       scale_out
                                       WeightsAndCapacities>, endpoint=<name>,
                                       endpoint_config=<new> (UpdateEndpoint)
`scale_out`: just before the call, an InService endpoint's first variant gets one instance more through
UpdateEndpointWeightsAndCapacities, as an Application Auto Scaling activity would make it; the call then meets
the endpoint Updating and is refused by the same rule as any change of an in-progress endpoint.

`params={"failure_reason": "..."}` on a fault replaces the default FailureReason.

State changes are computed lazily from the sandbox clock whenever an endpoint or schedule is read, under one
lock, so the moto server's request threads always agree. Each endpoint status change puts one "SageMaker
Endpoint State Change" event (source aws.sagemaker) on the default EventBridge bus: CREATING on
CreateEndpoint, UPDATING on UpdateEndpoint and UpdateEndpointWeightsAndCapacities, IN_SERVICE or FAILED when
the operation completes (stamped with the moment it completed), DELETING on DeleteEndpoint. A ticker job
settles due operations every tick, so a completion reaches EventBridge within a tick of sandbox time even when
nobody reads the endpoint; it is emitted where the change is applied, under the lock, hence exactly once.

The package holds one module per concern: `endpoints` (the lifecycle, configurations, variants, events),
`monitoring` (schedules and executions), `runtime` (InvokeEndpoint), `models` (CreateModel's image rules, model
package metadata), `service` (SageMakerService, composed of those parts), `install` (the patches into moto) and
`_common` (what they share).
"""

from mlrollout_sandbox.emulator.sagemaker._common import SandboxUnsupported
from mlrollout_sandbox.emulator.sagemaker.endpoints import (
    DEFAULT_CREATE_SECONDS,
    DEFAULT_DELETE_SECONDS,
    DEFAULT_DURATIONS,
    DEFAULT_UPDATE_SECONDS,
    DEFAULT_WEIGHTS_SECONDS,
    ENDPOINT_STATE_CHANGE,
    Duration,
    EndpointState,
    Transition,
    VariantState,
    endpoint_state_change_event,
    event_status,
)
from mlrollout_sandbox.emulator.sagemaker.endpoints import DELETE_ENDPOINT as DELETE_ENDPOINT
from mlrollout_sandbox.emulator.sagemaker.endpoints import UPDATE_ENDPOINT as UPDATE_ENDPOINT
from mlrollout_sandbox.emulator.sagemaker.install import install
from mlrollout_sandbox.emulator.sagemaker.monitoring import DEFAULT_SCHEDULE_PENDING_SECONDS
from mlrollout_sandbox.emulator.sagemaker.runtime import DataPlane
from mlrollout_sandbox.emulator.sagemaker.service import SageMakerService

__all__ = [
    "DEFAULT_CREATE_SECONDS",
    "DEFAULT_DELETE_SECONDS",
    "DEFAULT_DURATIONS",
    "DEFAULT_SCHEDULE_PENDING_SECONDS",
    "DEFAULT_UPDATE_SECONDS",
    "DEFAULT_WEIGHTS_SECONDS",
    "ENDPOINT_STATE_CHANGE",
    "DataPlane",
    "Duration",
    "EndpointState",
    "SageMakerService",
    "SandboxUnsupported",
    "Transition",
    "VariantState",
    "endpoint_state_change_event",
    "event_status",
    "install",
]
