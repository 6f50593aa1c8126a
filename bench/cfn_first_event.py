"""Time from a cloudformation stage's start to the first stack event in its log, on a moto
server, vs a bare boto3 loop (create_stack, then describe_stack_events until one shows).

The stage makes a change set, describes it, shows it, executes it and polls events every 2 s:
the figure says what that costs before the operator sees the stack move (target <= 5 s).
Usage: python bench/cfn_first_event.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics

from _common import clock, drop_project, engine_with_store, moto_server, temp_project

from cdtui.engine.events import StageOutput, StageStarted

TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "bench"}}},
    "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}}},
}


def stage_first_event(url: str, stack: str) -> float:
    project = temp_project()
    (project / "stack.json").write_text(json.dumps(TEMPLATE))
    spec = {"stack": stack, "template": "stack.json", "region": "eu-west-1", "endpoint_url": url}
    engine, store = engine_with_store(
        {
            "project": "bench",
            "phases": [{"name": "P", "stages": [{"name": "infra", "cloudformation": spec}]}],
        },
        project,
    )
    marks: dict[str, float] = {}

    def watch(event: object) -> None:
        if isinstance(event, StageStarted):
            marks.setdefault("start", clock())
        elif isinstance(event, StageOutput) and "_IN_PROGRESS" in event.text:
            marks.setdefault("event", clock())

    engine.subscribe(watch)
    status = asyncio.run(engine.run())
    store.close()
    drop_project(project)
    assert status == "SUCCEEDED", status
    return marks["event"] - marks["start"]


def boto3_first_event(url: str, stack: str) -> float:
    import boto3

    client = boto3.client("cloudformation", region_name="eu-west-1", endpoint_url=url)
    began = clock()
    client.create_stack(StackName=stack, TemplateBody=json.dumps(TEMPLATE))
    while not client.describe_stack_events(StackName=stack)["StackEvents"]:
        pass
    return clock() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    server, url = moto_server()
    try:
        boto3_first_event(url, "warm-up")  # boto3's first client pays its imports
        ours = statistics.median(stage_first_event(url, f"ours-{i}") for i in range(runs))
        base = statistics.median(boto3_first_event(url, f"bare-{i}") for i in range(runs))
    finally:
        server.stop()
    print(f"stage start -> first stack event in the log: {ours * 1000:.0f} ms (target <= 5000 ms)")
    print(f"bare boto3 create_stack -> first event:      {base * 1000:.0f} ms")
    print(f"ratio stage/bare: {ours / base:.1f}x; median of {runs}")


if __name__ == "__main__":
    main()
