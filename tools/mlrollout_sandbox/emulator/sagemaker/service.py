"""SageMakerService: the sandbox's one handle on its SageMaker emulation, composed of one part per concern."""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

from mlrollout_sandbox.emulator.sagemaker.endpoints import (
    DEFAULT_CREATE_SECONDS,
    DEFAULT_DELETE_SECONDS,
    DEFAULT_UPDATE_SECONDS,
    DEFAULT_WEIGHTS_SECONDS,
    EndpointLifecycle,
)
from mlrollout_sandbox.emulator.sagemaker.monitoring import (
    DEFAULT_SCHEDULE_PENDING_SECONDS,
    MonitoringSchedules,
)
from mlrollout_sandbox.emulator.sagemaker.runtime import DataPlaneRouting

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Faults


class SageMakerService(DataPlaneRouting, EndpointLifecycle, MonitoringSchedules):
    """The state the sandbox keeps beside moto's SageMaker backend, and the sandbox's handle on it.

    Durations are virtual seconds and may be changed at any time; they apply to operations started later.

    One object made of one part per concern: EndpointLifecycle (endpoints and their configurations),
    DataPlaneRouting (InvokeEndpoint; an EndpointLifecycle, as it serves what the lifecycle settles) and
    MonitoringSchedules. Parts rather than collaborators because the concerns share one lock (moto's tag APIs
    read a schedule under it, InvokeEndpoint settles an endpoint under it) and the sandbox sets their knobs on
    this one handle (`create_seconds`, `data_plane`, `rng`, ...).
    """

    def __init__(self, clock: SandboxClock, faults: Faults, *, account_id: str, region: str) -> None:
        # Each attribute is declared, with what it means, by the part that uses it.
        self.clock = clock
        self.faults = faults
        self.account_id = account_id
        self.region = region
        self.create_seconds = DEFAULT_CREATE_SECONDS
        self.update_seconds = DEFAULT_UPDATE_SECONDS
        self.weights_seconds = DEFAULT_WEIGHTS_SECONDS
        self.delete_seconds = DEFAULT_DELETE_SECONDS
        self.schedule_pending_seconds = DEFAULT_SCHEDULE_PENDING_SECONDS
        self.data_plane = None
        self.events = None
        self.rng = random.Random()
        self.endpoint_checks = []
        self._lock = threading.RLock()
        self._endpoints = {}
        self._schedules = {}
        self._executions = {}
