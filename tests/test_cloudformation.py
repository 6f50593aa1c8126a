"""The cloudformation kind against a moto server: a stack created with its change set and events
in the log and its outputs used by the next stage, an update with an empty change set that
succeeds, a bad resource that fails the stage naming it with the rollback shown, delete, dry-run."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from cdtui.config import ConfigError, load_pipeline
from cdtui.engine.events import Notice, Status
from tests.artifact_runs import cli, run_pipeline
from tests.cfn_moto import install
from tests.moto_server import REGION, Moto

TEMPLATE = {
    "Parameters": {"Env": {"Type": "String"}},
    "Resources": {
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": {"Fn::Sub": "shop-${Env}"}},
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "q-${Env}"}}},
    },
    "Outputs": {
        "TopicName": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}},
        "WebUrl": {"Value": {"Fn::Sub": "http://${Env}.shop.test"}},
    },
}
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def cfn(moto: Moto) -> Moto:
    install()
    return moto


def infra_phase(
    moto: Moto, stack: str, template: str = "infra/stack.json", **extra: object
) -> dict:
    spec = {"stack": stack, "template": template, "parameters": {"Env": "staging"},
            "region": REGION, "endpoint_url": moto.url, "poll": "0.2s", **extra}  # fmt: skip
    use = {"name": "deploy", "run": "echo url=${stack.WebUrl} topic=${stack.TopicName}",
           "needs": ["infra"]}  # fmt: skip
    return {"name": "Load", "stages": [{"name": "infra", "cloudformation": spec}, use]}


def write_template(project: Path, template: dict, name: str = "stack.json") -> None:
    (project / "infra").mkdir(exist_ok=True)
    (project / "infra" / name).write_text(json.dumps(template))


async def test_a_stack_is_created_with_events_in_the_log_and_outputs_for_the_next_stage(
    cfn: Moto, tmp_path: Path
):
    write_template(tmp_path, TEMPLATE)
    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-staging"))

    assert status is Status.SUCCEEDED, recorder.final("infra").reason
    log = recorder.output("infra")
    plain = SGR.sub("", log)
    plan_at = plain.index("+ Add     Topic")
    assert plan_at < plain.index("executing change set")  # the plan before it runs
    assert "+ Add     Queue" in plain
    for line in ("CREATE_IN_PROGRESS", "Topic", "CREATE_COMPLETE", "shop-staging"):
        assert line in plain
    assert "\x1b[32mCREATE_COMPLETE" in log  # statuses coloured
    assert "output WebUrl = http://staging.shop.test" in plain
    assert recorder.output("deploy").strip() == "url=http://staging.shop.test topic=shop-staging"
    progress = [n.extra.get("progress") for n in recorder.of(Notice) if n.stage == "infra"]
    assert progress[-1] == "2/2 resources"
    stacks = cfn.client("cloudformation").describe_stacks(StackName="shop-staging")["Stacks"]
    assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"


async def test_an_update_with_no_changes_succeeds(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, TEMPLATE)
    first, _, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-same"))
    assert first is Status.SUCCEEDED

    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-same"))
    assert status is Status.SUCCEEDED, recorder.final("infra").reason
    assert "no changes: stack shop-same is up to date" in recorder.output("infra")
    assert "url=http://staging.shop.test" in recorder.output("deploy")  # outputs still published


async def test_an_update_with_changes_streams_its_events(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, TEMPLATE)
    await run_pipeline(tmp_path, infra_phase(cfn, "shop-grow"))
    grown = json.loads(json.dumps(TEMPLATE))
    grown["Resources"]["Second"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q2"}}
    write_template(tmp_path, grown)

    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-grow"))
    assert status is Status.SUCCEEDED, recorder.final("infra").reason
    plain = SGR.sub("", recorder.output("infra"))
    assert "UPDATE shop-grow: 1 change(s)" in plain and "+ Add     Second" in plain
    assert "UPDATE_COMPLETE" in plain
    assert plain.count("CREATE_COMPLETE  Topic") == 0  # the first run's events are not replayed


async def test_a_bad_resource_fails_the_stage_naming_it(cfn: Moto, tmp_path: Path):
    bad = json.loads(json.dumps(TEMPLATE))
    bad["Resources"]["Queue"]["Properties"]["DelaySeconds"] = "soon"
    write_template(tmp_path, bad)

    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-bad"))
    assert status is Status.FAILED
    reason = recorder.final("infra").reason
    assert "resource Queue (AWS::SQS::Queue) CREATE_FAILED" in reason
    assert "soon" in reason
    assert "ROLLBACK_IN_PROGRESS -> ROLLBACK_COMPLETE" in reason
    assert "ROLLBACK_COMPLETE" in SGR.sub("", recorder.output("infra"))
    assert recorder.final("deploy").status is Status.SKIPPED


async def test_delete_tears_the_stack_down(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, TEMPLATE)
    await run_pipeline(tmp_path, infra_phase(cfn, "shop-gone"))
    spec = {"stack": "shop-gone", "delete": True, "region": REGION, "endpoint_url": cfn.url,
            "poll": "0.2s"}  # fmt: skip
    phase = {"name": "Down", "stages": [{"name": "down", "cloudformation": spec}]}

    status, recorder, _ = await run_pipeline(tmp_path, phase)
    assert status is Status.SUCCEEDED, recorder.final("down").reason
    assert "deleting stack shop-gone" in recorder.output("down")
    status, recorder, _ = await run_pipeline(tmp_path, phase)
    assert status is Status.SUCCEEDED
    assert "does not exist: nothing to delete" in recorder.output("down")


async def test_a_missing_template_or_credentials_fail_with_the_cause(
    cfn: Moto, tmp_path: Path, monkeypatch
):
    status, recorder, _ = await run_pipeline(
        tmp_path, infra_phase(cfn, "shop-x", "infra/none.json")
    )
    assert status is Status.FAILED
    assert "template infra/none.json not found" in recorder.final("infra").reason

    write_template(tmp_path, TEMPLATE)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-x"))
    assert status is Status.FAILED
    assert "no AWS credentials" in recorder.final("infra").reason


def test_config_errors_are_located_and_dry_run_shows_the_stack(tmp_path: Path):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: p\nphases:\n  - name: Load\n    stages:\n"
        "      - {name: infra, cloudformation: {stack: 'bad name', templat: x.yaml}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    shown = "\n".join(f"{e.line}: {e.path}: {e.message} {e.hint}" for e in caught.value.errors)
    assert "5: phases[0].stages[0].cloudformation.stack" in shown or "cloudformation.stack" in shown
    assert "templat" in shown and "template" in shown

    path.write_text(
        "project: p\nphases:\n  - name: Load\n    stages:\n"
        "      - {name: infra, cloudformation: {stack: shop, template: infra/s.yaml, "
        "parameters: {Env: staging}}}\n"
    )
    result = cli("run", tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "cloudformation: create/update stack shop from infra/s.yaml with Env" in result.output


async def test_cancel_stops_waiting_and_says_the_stacks_state(cfn: Moto, tmp_path: Path):
    import asyncio

    from cdtui.engine.engine import Engine, EngineOptions
    from cdtui.engine.events import StageOutput
    from cdtui.engine.plan import make_plan
    from tests.conftest import Recorder, pipeline_of

    slow = {**TEMPLATE, "Metadata": {"test-hold": True}}
    write_template(tmp_path, slow)
    pipeline = pipeline_of(infra_phase(cfn, "shop-slow"))
    engine = Engine(pipeline, make_plan(pipeline, (), ()), project_dir=tmp_path, run_id=1,
                    options=EngineOptions())  # fmt: skip
    recorder = Recorder()
    engine.subscribe(recorder)

    def cancel_on_first_event(event: object) -> None:
        if isinstance(event, StageOutput) and "CREATE_IN_PROGRESS" in event.text:
            engine.cancel("cancelled by test")

    engine.subscribe(cancel_on_first_event)
    status = await asyncio.wait_for(engine.run(), 10)
    assert status is Status.CANCELLED
    reason = recorder.final("infra").reason
    assert "stopped waiting; stack shop-slow is CREATE_IN_PROGRESS" in reason


async def test_a_timeout_stops_waiting_too(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, {**TEMPLATE, "Metadata": {"test-hold": True}})
    phase = infra_phase(cfn, "shop-late")
    phase["stages"][0]["timeout"] = "1s"
    status, recorder, _ = await run_pipeline(tmp_path, phase)
    assert status is Status.FAILED
    final = recorder.final("infra")
    assert final.status is Status.TIMED_OUT
    assert (
        "timed out after 1s: stopped waiting; stack shop-late is CREATE_IN_PROGRESS" in final.reason
    )


async def test_a_stack_whose_creation_failed_is_not_updated(cfn: Moto, tmp_path: Path):
    bad = json.loads(json.dumps(TEMPLATE))
    bad["Resources"]["Queue"]["Properties"]["DelaySeconds"] = "soon"
    write_template(tmp_path, bad)
    await run_pipeline(tmp_path, infra_phase(cfn, "shop-dead"))
    write_template(tmp_path, TEMPLATE)
    status, recorder, _ = await run_pipeline(tmp_path, infra_phase(cfn, "shop-dead"))
    assert status is Status.FAILED
    assert "is ROLLBACK_COMPLETE: its creation failed" in recorder.final("infra").reason


def test_the_tree_shows_a_running_stages_progress():
    import time

    from cdtui.engine.events import StageFinished, StageStarted
    from cdtui.engine.state import RunState
    from cdtui.ui.widgets.phase_tree import PhaseTree

    state = RunState()
    now = time.time()
    state.apply(StageStarted(1, now, "Load", "infra", 1, "cloudformation: ...", host="local"))
    state.apply(Notice(1, now, "info", "shop: 2 of 5 resources done", "Load", "infra",
                       extra={"progress": "2/5 resources"}))  # fmt: skip
    stage = state.stage("Load", "infra")
    assert stage.progress == "2/5 resources"
    assert "2/5 resources" in PhaseTree()._stage_label(stage, now + 1).plain
    state.apply(StageFinished(1, now + 2, "Load", "infra", 1, Status.SUCCEEDED, 0, ""))
    assert "resources" not in PhaseTree()._stage_label(stage, now + 3).plain


async def test_plan_then_a_gate_then_apply_the_reviewed_change_set(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, TEMPLATE)
    plan = infra_phase(cfn, "shop-gated", execute=False)
    plan["stages"] = plan["stages"][:1]
    apply_spec = {"stack": "shop-gated", "change_set": "${stages.infra.outputs.change_set}",
                  "region": REGION, "endpoint_url": cfn.url, "poll": "0.2s"}  # fmt: skip
    apply = {"name": "Apply", "gate": "confirm", "stages": [
        {"name": "apply", "cloudformation": apply_spec},
        {"name": "deploy", "run": "echo url=${stack.WebUrl}", "needs": ["apply"]},
    ]}  # fmt: skip
    from cdtui.engine.engine import Engine, EngineOptions
    from cdtui.engine.events import GateWaiting
    from cdtui.engine.plan import make_plan
    from tests.conftest import Recorder, pipeline_of

    pipeline = pipeline_of(plan, apply)
    client = cfn.client("cloudformation")
    engine = Engine(pipeline, make_plan(pipeline, (), ()), project_dir=tmp_path, run_id=1,
                    options=EngineOptions(interactive_gates=True))  # fmt: skip
    seen = Recorder()
    engine.subscribe(seen)
    at_gate: list[str] = []

    def review_then_approve(event: object) -> None:
        if isinstance(event, GateWaiting):  # the operator reads the plan, the stack unchanged
            at_gate.append(
                client.describe_stacks(StackName="shop-gated")["Stacks"][0]["StackStatus"]
            )
            asyncio.get_running_loop().call_soon(engine.approve, "Apply")

    engine.subscribe(review_then_approve)
    assert await engine.run() is Status.SUCCEEDED, seen.final("apply").reason
    assert at_gate == ["REVIEW_IN_PROGRESS"]
    assert "+ Add     Topic" in SGR.sub("", seen.output("infra"))
    assert "reviewed change set cdtui-" in seen.output("apply")
    assert seen.output("deploy").strip() == "url=http://staging.shop.test"
    assert client.describe_stacks(StackName="shop-gated")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )


async def test_a_cancel_before_execution_leaves_the_stack_unchanged(cfn: Moto, tmp_path: Path):
    from cdtui.engine.engine import Engine
    from cdtui.engine.events import StageOutput
    from cdtui.engine.plan import make_plan
    from tests.conftest import Recorder, pipeline_of

    write_template(tmp_path, TEMPLATE)
    pipeline = pipeline_of(infra_phase(cfn, "shop-never"))
    engine = Engine(pipeline, make_plan(pipeline, (), ()), project_dir=tmp_path, run_id=1)
    recorder = Recorder()
    engine.subscribe(recorder)
    engine.subscribe(
        lambda e: (
            engine.cancel("cancelled by test")
            if isinstance(e, StageOutput) and "change set for stack" in e.text
            else None
        )
    )
    assert await engine.run() is Status.CANCELLED
    assert "was not executed; stack shop-never unchanged" in recorder.final("infra").reason
    stack = cfn.client("cloudformation").describe_stacks(StackName="shop-never")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"


async def test_a_template_kept_as_an_artifact(cfn: Moto, tmp_path: Path):
    build = {"name": "Build", "stages": [{
        "name": "render", "run": f"mkdir -p out && echo '{json.dumps(TEMPLATE)}' > out/stack.json",
        "artifacts": {"tpl": "out/stack.json"},
    }]}  # fmt: skip
    status, recorder, _ = await run_pipeline(
        tmp_path, build, infra_phase(cfn, "shop-art", "${artifacts.tpl.path}")
    )
    assert status is Status.SUCCEEDED, recorder.final("infra").reason
    assert "url=http://staging.shop.test" in recorder.output("deploy")


async def test_an_unknown_profile_is_named_not_a_crash(cfn: Moto, tmp_path: Path):
    write_template(tmp_path, TEMPLATE)
    status, recorder, _ = await run_pipeline(
        tmp_path, infra_phase(cfn, "shop-p", profile="nobody-has-this")
    )
    assert status is Status.FAILED
    reason = recorder.final("infra").reason
    assert "cannot reach CloudFormation" in reason and "nobody-has-this" in reason
    assert "crashed" not in reason
