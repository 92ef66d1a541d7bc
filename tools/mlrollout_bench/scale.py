"""Scale run: many uploads across many endpoints in the sandbox, with duplicate deliveries and bad artifacts.

A benchmark, not a test: it reports what happened. Uploads are spread over sandbox time in a random order; a
share of them is delivered twice by EventBridge (the emulator's `duplicate` delivery fault) and a share are
broken artifacts. At the end it reads the executions and the deployment records and reports:
- executions started against uploads and duplicate deliveries;
- duplicates suppressed (executions that ended as `duplicate`);
- per-endpoint overlap: a deployment taking an endpoint's lease while another still held it (from DynamoDB's stream
  of the state table: every lease write, in order);
- records with no final state once every execution has ended;
- outcomes, and wall and sandbox time.

    python -m mlrollout_bench.scale [--uploads 100] [--endpoints 20] [--duplicates 0.2] [--bad 0.1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
CONFIG = f"""image: {IMAGE}
strategy:
  steps: [50]
  bake_minutes: 3
judge:
  min_requests: 50
  max_error_rate_increase: 0.02
"""
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class Plan:
    endpoint: str
    version: str
    body: bytes
    bad: bool
    duplicate: bool


@dataclass
class Report:
    uploads: int
    endpoints: int
    bad_uploads: int
    duplicate_deliveries: int
    executions_started: int
    executions_expected: int
    duplicates_suppressed: int
    outcomes: dict[str, int]
    records: int
    records_without_final_state: int
    overlapping_pairs: int
    wall_seconds: float
    sandbox_hours: float
    unfinished_executions: int
    warp_asked: float = 0.0
    messages: dict[str, int] = field(default_factory=dict)
    stuck_in: dict[str, int] = field(default_factory=dict)  # the state executions that did not end well were in
    reasons: dict[str, int] = field(default_factory=dict)  # the records' reasons, for every outcome but promoted


def plan(uploads: int, endpoints: int, duplicates: float, bad: float, rng: random.Random) -> list[Plan]:
    names = [f"scale-{i:02d}" for i in range(endpoints)]
    broken = [b"", b"PK\x03\x04 not a gzip", gzip.compress(b"gzip of a single file, not a tar")]
    plans = []
    for i in range(uploads):
        endpoint = names[i % endpoints]
        is_bad = rng.random() < bad
        model = DEMO_MODELS / "fraud-scorer" / ("v1", "v2")[i % 2]
        # Each healthy upload is its own build (other bytes), so only injected deliveries are duplicates.
        body = rng.choice(broken) if is_bad else package_model(model, extra={"BUILD": str(i).encode()})
        plans.append(Plan(endpoint, f"v{i:03d}", body, is_bad, rng.random() < duplicates))
    rng.shuffle(plans)
    return plans


def run(uploads: int, endpoints: int, duplicates: float, bad: float, seed: int, warp: float) -> Report:
    rng = random.Random(seed)
    plans = plan(uploads, endpoints, duplicates, bad, rng)
    began = time.monotonic()
    with Sandbox(warp=warp, seed=seed) as sandbox:
        started_virtual = sandbox.clock.now()
        # Every write to the leases, in order: DynamoDB's own change log of the state table.
        sandbox.client("dynamodb").update_table(
            TableName=sandbox.stack.physical("StateTable"),
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for endpoint in sorted({p.endpoint for p in plans}):
            sandbox.put_config(endpoint, CONFIG)
            sandbox.send_traffic(endpoint, TrafficProfile(rps=2))
        rule = f"{sandbox.stack_name}-uploads"
        assert sandbox.aws is not None
        for item in plans:
            if item.duplicate:
                sandbox.aws.emulator.faults.arm("events:Deliver", "duplicate", times=1, rule=rule)
            sandbox.upload(item.endpoint, item.version, item.body)
            sandbox.advance(90)  # a sandbox minute and a half between uploads
        sfn = sandbox.client("stepfunctions")
        expected = len(plans) + sum(p.duplicate for p in plans)
        deadline = time.monotonic() + 1800
        executions: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            executions = [e for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=sandbox.state_machine_arn) for e in page["executions"]]  # fmt: skip
            rollouts = [e for e in executions if not e["name"].startswith("restore-")]
            if len(rollouts) >= expected and all(e["status"] in TERMINAL for e in executions):
                sandbox.drain()  # the execution-ended events, and any restore they start
                if not any(not r.get("outcome") for r in _records(sandbox)):
                    break
            time.sleep(1.0)
        sandbox.drain()
        outcomes: Counter[str] = Counter()
        stuck: Counter[str] = Counter()
        for execution in executions:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] == "SUCCEEDED":
                outcomes[str(json.loads(described.get("output") or "{}").get("outcome", "promoted"))] += 1
            else:
                outcomes[str(described.get("error") or described["status"])] += 1
            if described["status"] in {"TIMED_OUT", "ABORTED"}:
                history = sfn.get_execution_history(executionArn=execution["executionArn"], reverseOrder=True)
                entered = [
                    e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e
                ]
                stuck[entered[0] if entered else "?"] += 1
        records = _records(sandbox)
        messages = Counter(str(json.loads(a["Message"]).get("event")) for a in sandbox.alerts())
        return Report(
            uploads=len(plans),
            endpoints=endpoints,
            bad_uploads=sum(p.bad for p in plans),
            duplicate_deliveries=sum(p.duplicate for p in plans),
            executions_started=len([e for e in executions if not e["name"].startswith("restore-")]),
            executions_expected=expected,
            duplicates_suppressed=outcomes.get("duplicate", 0),
            outcomes=dict(sorted(outcomes.items())),
            records=len(records),
            records_without_final_state=sum(1 for r in records if not r.get("outcome")),
            overlapping_pairs=_overlaps(_lease_changes(sandbox)),
            wall_seconds=round(time.monotonic() - began, 1),
            sandbox_hours=round((sandbox.clock.now() - started_virtual).total_seconds() / 3600, 2),
            unfinished_executions=sum(1 for e in executions if e["status"] not in TERMINAL),
            warp_asked=warp,
            messages=dict(sorted(messages.items())),
            stuck_in=dict(stuck.most_common()),
            reasons=dict(
                Counter(
                    f"{r.get('outcome')}: {str(r.get('reason') or '')[:140]}"
                    for r in records
                    if r.get("outcome") not in {"promoted", "superseded", None}
                ).most_common(12)
            ),
        )


def _records(sandbox: Sandbox) -> list[dict[str, Any]]:
    from mlrollout.adapters.ledger import _plain

    table = sandbox.stack.physical("DeploymentsTable")
    items: list[dict[str, Any]] = []
    for page in sandbox.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        items.extend({k: _plain(v) for k, v in item.items()} for item in page["Items"])
    return items


def _lease_changes(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The state table's stream records for `lease#<endpoint>` items, in the order DynamoDB applied them."""
    db, streams = sandbox.client("dynamodb"), sandbox.client("dynamodbstreams")
    arn = db.describe_table(TableName=sandbox.stack.physical("StateTable"))["Table"]["LatestStreamArn"]
    changes: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            changes += [r for r in page["Records"] if r["dynamodb"]["Keys"]["id"]["S"].startswith("lease#")]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return sorted(changes, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))


def _overlaps(changes: list[dict[str, Any]]) -> int:
    """Times a deployment took an endpoint's lease from another that still held it (not expired): two rollouts
    on one endpoint at once. Taking a lease that was released (deleted) or had expired is not an overlap."""
    overlapping = 0
    for change in changes:
        old, new = change["dynamodb"].get("OldImage"), change["dynamodb"].get("NewImage")
        if change["eventName"] != "MODIFY" or old is None or new is None:
            continue
        if old["holder"]["S"] != new["holder"]["S"] and new["acquired_at"]["S"] <= old["expires_at"]["S"]:
            overlapping += 1
    return overlapping


def render(report: Report, command: str) -> str:
    rows = [
        ("uploads (endpoints)", f"{report.uploads} ({report.endpoints})"),
        ("bad artifacts among them", report.bad_uploads),
        ("duplicate deliveries injected", report.duplicate_deliveries),
        ("executions started / expected", f"{report.executions_started} / {report.executions_expected}"),
        (
            "duplicates suppressed",
            f"{report.duplicates_suppressed} of {report.duplicate_deliveries} ended as duplicate; a duplicate of a bad "
            "artifact is rejected again by validation (before the claim) but its record and alert are not repeated",
        ),
        ("rejected alerts / bad artifacts", f"{report.messages.get('rejected', 0)} / {report.bad_uploads}"),
        ("messages by event", ", ".join(f"{k} {v}" for k, v in report.messages.items())),
        ("per-endpoint overlap (a lease taken while another deployment held it)", report.overlapping_pairs),
        ("records", report.records),
        ("records with no final state", report.records_without_final_state),
        ("executions not finished", report.unfinished_executions),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in report.outcomes.items())),
        ("executions timed out or stopped, by the state they were in", json.dumps(report.stuck_in)),
        (
            "why the records that were not promoted or superseded ended (most common first)",
            "<br>".join(f"{n} x {reason}" for reason, n in report.reasons.items()).replace("|", "\\|") or "-",
        ),
        ("wall time", f"{report.wall_seconds} s"),
        ("sandbox time", f"{report.sandbox_hours} h"),
        (
            "sandbox speed (mean)",
            f"{report.sandbox_hours * 3600 / max(report.wall_seconds, 1e-9):.0f}x wall time (at most "
            f"{report.warp_asked:g}x asked; the data plane slows the clock to the traffic it can serve)",
        ),
    ]
    lines = ["# Scale run", "", f"Generated by `{command}`.", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--bad", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=17)
    # The most the sandbox clock may run at; the data plane slows it to what 20 endpoints' traffic can be served at.
    parser.add_argument("--warp", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    report = run(args.uploads, args.endpoints, args.duplicates, args.bad, args.seed, args.warp)
    command = "python -m mlrollout_bench.scale " + " ".join(argv or [])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(report.__dict__, indent=2) + "\n")
    text = render(report, command.strip())
    (args.out / "scale.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
