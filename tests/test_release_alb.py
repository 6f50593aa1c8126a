"""A release on an ALB (moto server): the same rollout, weights set and read back through boto3.

moto carries no traffic, so health is checked on local backends, as an ALB's targets would be.
moto's state is global to the process: names here are unique and the state is reset afterwards.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import faulty_server
from routing_fixtures import moto_server
from test_release_rollout import fast

from cdtui.config.release import ReleaseSpec
from cdtui.release.control import locked, prepare, rollback
from cdtui.release.rollout import State
from cdtui.release.routers import Weights, make_router

REGION = "eu-west-1"


@pytest.fixture
def alb_router() -> Iterator[dict[str, str]]:
    """An ALB listener forwarding to blue, with blue and green target groups: the router block."""
    import boto3

    tag = uuid.uuid4().hex[:8]
    with moto_server() as endpoint:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
        elb = boto3.client("elbv2", region_name=REGION, endpoint_url=endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=zone)[
                "Subnet"
            ]["SubnetId"]
            for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
        ]
        lb = elb.create_load_balancer(Name=f"rel-{tag}", Subnets=subnets)["LoadBalancers"][0]
        blue, green = (
            elb.create_target_group(Name=f"rel-{c}-{tag}", Protocol="HTTP", Port=80, VpcId=vpc)[
                "TargetGroups"
            ][0]["TargetGroupArn"]
            for c in ("blue", "green")
        )
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}],
        )["Listeners"][0]["ListenerArn"]
        try:
            yield {
                "kind": "alb",
                "listener_arn": listener,
                "blue_target_group_arn": blue,
                "green_target_group_arn": green,
                "region": REGION,
                "endpoint_url": endpoint,
            }
        finally:
            request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=10).close()


def test_release_and_rollback_on_an_alb(alb_router: dict[str, str], tmp_path: Path):
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, 0, hold=0.1)
        block["router"] = alb_router
        spec = ReleaseSpec.model_validate(block)

        async def go() -> tuple[State, Weights, State, Weights]:
            router = make_router(spec.router, tmp_path)
            async with locked(spec, tmp_path) as handle:
                rollout, _ = await prepare(handle, run_id=1)
                done = await rollout.run()
                released = await router.get_weights()
                back = await rollback(handle, run_id=2)
            return done.state, released, back.state, await router.get_weights()

        assert asyncio.run(go()) == (
            State.DONE,
            Weights.ALL_GREEN,
            State.ROLLED_BACK,
            Weights.ALL_BLUE,
        )
