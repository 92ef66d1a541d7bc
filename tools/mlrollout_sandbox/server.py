"""The embedded AWS: moto's threaded server on 127.0.0.1 with the sandbox's extensions installed."""

from __future__ import annotations

import copy
import logging
import os
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator import CREDENTIALS, Emulator

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class EmbeddedAws:
    """Start with `with EmbeddedAws(clock) as aws:`; `aws.client("s3")` talks to it over HTTP."""

    def __init__(self, clock: SandboxClock | None = None, *, region: str = REGION, port: int = 0) -> None:
        self.clock = clock or SandboxClock()
        self.region = region
        self.port = port
        self.emulator = Emulator(self.clock, account_id=ACCOUNT_ID, region=region)
        self.url = ""
        self._server: Any = None
        self._saved_config: Any = None  # moto's default_user_config (a TypedDict), as it was before start
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> EmbeddedAws:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto logs every caught failure of a state machine (a rollback is a caught failure) at ERROR.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self._saved_config = copy.deepcopy(default_user_config)
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        # SAM attaches AWS managed policies (AWSLambdaBasicExecutionRole, ...) to the roles it generates.
        default_user_config["iam"] = {"load_aws_managed_policies": True}
        self.emulator.install()
        try:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.url = f"http://{host}:{port}"
            # moto's Step Functions interpreter calls back into "the" moto server for Task states.
            self._set_env("MOTO_PORT", str(port))
            self.emulator.endpoint_url = self.url
            self.emulator.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        from moto.core.config import default_user_config

        self.emulator.uninstall()
        if self._server is not None:
            self._server.stop()
            self._server = None
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
        if self._saved_config is not None:
            default_user_config.clear()  # type: ignore[attr-defined]  # a dict at run time, typed as a TypedDict
            default_user_config.update(self._saved_config)
            self._saved_config = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _set_env(self, key: str, value: str) -> None:
        self._saved_env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def client(self, service: str, **config: Any) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name=self.region,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, **config),
            **CREDENTIALS,
        )

    def environment(self) -> dict[str, str]:
        """Variables that point the AWS CLI, boto3 and the mlrollout CLI at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
