"""The ALB driver against a moto server: weighted forward set and read back, and the checks moto
does not make (both target groups exist, nothing else on the listener, other actions kept)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from routing_fixtures import moto_server

from cdtui.config.release import RouterSpec
from cdtui.release.routers import RouterMismatch, RouterRejected, Weights, make_router
from cdtui.release.routers.alb import ALBRouter

REGION = "eu-west-1"
HERE = Path(".")


@dataclass
class Balancer:
    endpoint: str
    client: Any
    listener: str
    blue: str
    green: str
    spare: str

    def spec(self, **changes: Any) -> RouterSpec:
        fields = {
            "kind": "alb",
            "listener_arn": self.listener,
            "blue_target_group_arn": self.blue,
            "green_target_group_arn": self.green,
            "region": REGION,
            "endpoint_url": self.endpoint,
            **changes,
        }
        return RouterSpec.model_validate(fields)


@pytest.fixture(scope="module")
def alb() -> Iterator[Balancer]:
    """VPC, two subnets, an ALB, three target groups and a listener forwarding all to blue."""
    import boto3

    with moto_server() as endpoint:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
        elb = boto3.client("elbv2", region_name=REGION, endpoint_url=endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
                "Subnet"
            ]["SubnetId"]
            for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
        ]
        lb = elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]
        groups = [
            elb.create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc)[
                "TargetGroups"
            ][0]["TargetGroupArn"]
            for name in ("shop-blue", "shop-green", "shop-spare")
        ]
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
        )["Listeners"][0]["ListenerArn"]
        yield Balancer(endpoint, elb, listener, *groups)


def run(coroutine):
    return asyncio.run(coroutine)


def forward_groups(alb: Balancer) -> list[dict[str, Any]]:
    listener = alb.client.describe_listeners(ListenerArns=[alb.listener])["Listeners"][0]
    return listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]


def test_weights_flip_on_the_listener_and_read_back(alb: Balancer):
    router = make_router(alb.spec(), HERE)
    assert isinstance(router, ALBRouter)
    assert run(router.get_weights()) == Weights.ALL_BLUE  # the single-group forward form
    for weights in (Weights(90, 10), Weights(50, 50), Weights.ALL_GREEN, Weights.ALL_BLUE):
        assert run(router.set_weights(weights)) == weights
    assert {g["TargetGroupArn"]: g["Weight"] for g in forward_groups(alb)} == {
        alb.blue: 100,
        alb.green: 0,
    }
    facts = run(router.describe())
    assert facts["weights"] == "blue 100% / green 0%" and facts["listen"] == "HTTP port 80"
    assert facts["green"].endswith("weight 0") and facts["sticky"] == "no"
    run(router.close())


def test_sticky_turns_on_target_group_stickiness(alb: Balancer):
    router = make_router(alb.spec(sticky=True), HERE)
    run(router.set_weights(Weights(80, 20)))
    listener = alb.client.describe_listeners(ListenerArns=[alb.listener])["Listeners"][0]
    sticky = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"]
    assert sticky == {"Enabled": True, "DurationSeconds": 3600}
    run(router.set_weights(Weights.ALL_BLUE))


def test_a_missing_target_group_is_refused_though_moto_would_accept_it(alb: Balancer):
    made_up = alb.green.replace("shop-green", "shop-nope")
    router = make_router(alb.spec(green_target_group_arn=made_up), HERE)
    with pytest.raises(RouterRejected, match=r"green_target_group_arn|TargetGroupNotFound"):
        run(router.set_weights(Weights(50, 50)))
    assert run(make_router(alb.spec(), HERE).get_weights()) == Weights.ALL_BLUE


def test_a_third_target_group_on_the_listener_is_not_silently_dropped(alb: Balancer):
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": alb.blue, "Weight": 50},
                {"TargetGroupArn": alb.spare, "Weight": 50},
            ]
        },
    }
    alb.client.modify_listener(ListenerArn=alb.listener, DefaultActions=[forward])
    router = make_router(alb.spec(), HERE)
    try:
        with pytest.raises(RouterMismatch, match="neither blue nor green"):
            run(router.set_weights(Weights.ALL_GREEN))
        with pytest.raises(RouterMismatch, match="shop-spare"):
            run(router.get_weights())
    finally:
        alb.client.modify_listener(
            ListenerArn=alb.listener,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": alb.blue}],
        )


def test_an_unknown_listener_names_the_setting_to_check(alb: Balancer):
    gone = alb.listener[:-4] + "0000"
    router = make_router(alb.spec(listener_arn=gone), HERE)
    with pytest.raises(RouterRejected, match="listener_arn"):
        run(router.get_weights())


def test_boto3_loads_only_for_the_alb_router():
    code = (
        "import sys; from pathlib import Path; "
        "from cdtui.config.release import RouterSpec; "
        "from cdtui.release.routers import make_router; "
        "make_router(RouterSpec(), Path('.')); "
        "make_router(RouterSpec(kind='haproxy', socket='s', backend='b'), Path('.')); "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 loaded'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
