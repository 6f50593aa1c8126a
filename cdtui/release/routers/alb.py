"""Driver for an AWS Application Load Balancer: a weighted forward on the listener's default action.

boto3 is synchronous, so calls run in a worker thread. AWS (and moto, which validates less) is
given only weights that sum to 100 over exactly the two named target groups, and any other
default actions (authentication, ...) are kept as they are.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from cdtui.config.release import RouterSpec
from cdtui.release.routers.base import (
    COLOURS,
    InvalidWeights,
    RouterError,
    RouterMismatch,
    RouterRejected,
    RouterUnreachable,
    Weights,
    check_read_back,
)

DEFAULT_STICKY_SECONDS = 3600
_NOT_FOUND = {
    "ListenerNotFound": "listener_arn",
    "TargetGroupNotFound": "blue_target_group_arn / green_target_group_arn",
    "LoadBalancerNotFound": "listener_arn",
}


class ALBRouter:
    """Shifts an ALB listener's traffic between the blue and green target groups."""

    name = "alb"

    def __init__(self, spec: RouterSpec, *, client: Any = None) -> None:
        if not (spec.listener_arn and spec.blue_target_group_arn and spec.green_target_group_arn):
            raise RouterError(
                "router kind alb needs listener_arn, blue_target_group_arn and "
                "green_target_group_arn in the release block"
            )
        self.listener_arn = spec.listener_arn
        self.groups = {"blue": spec.blue_target_group_arn, "green": spec.green_target_group_arn}
        self.region = spec.region
        self.endpoint_url = spec.endpoint_url
        self.sticky = spec.sticky
        self._client = client
        self._groups_checked = False

    async def set_weights(self, weights: Weights) -> Weights:
        await self._check_groups()
        listener = await self._listener()
        actions = [_reusable(action) for action in listener.get("DefaultActions", [])]
        index = self._forward_index(actions)
        self._check_foreign(_group_weights(actions[index]))
        config = actions[index].get("ForwardConfig", {})
        stickiness = config.get("TargetGroupStickinessConfig")
        if self.sticky:
            seconds = (stickiness or {}).get("DurationSeconds") or DEFAULT_STICKY_SECONDS
            stickiness = {"Enabled": True, "DurationSeconds": seconds}
        forward: dict[str, Any] = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": self.groups[c], "Weight": weights.of(c)} for c in COLOURS
                ],
                **({"TargetGroupStickinessConfig": stickiness} if stickiness else {}),
            },
        }
        if "Order" in actions[index]:
            forward["Order"] = actions[index]["Order"]
        actions[index] = forward
        await self._aws("modify_listener", ListenerArn=self.listener_arn, DefaultActions=actions)
        listed = _group_weights(self._forward(await self._listener()))
        if not all(arn in listed for arn in self.groups.values()):
            raise RouterMismatch(
                f"ALB listener {self.listener_arn} does not list both target groups after the "
                "change: check it in the AWS console before retrying"
            )
        return check_read_back(self.name, weights, self._weights(listed), "check the listener")

    async def get_weights(self) -> Weights:
        return self._weights(_group_weights(self._forward(await self._listener())))

    async def describe(self) -> dict[str, str]:
        listener = await self._listener()
        facts = {
            "kind": "alb",
            "listener": self.listener_arn,
            "listen": f"{listener.get('Protocol', '?')} port {listener.get('Port', '?')}",
            "region": self.region or self._elbv2().meta.region_name or "?",
        }
        balancers = await self._aws(
            "describe_load_balancers", LoadBalancerArns=[listener["LoadBalancerArn"]]
        )
        for balancer in balancers.get("LoadBalancers", [])[:1]:
            facts["load balancer"] = balancer.get("DNSName", balancer["LoadBalancerArn"])
        listed = _group_weights(self._forward(listener))
        facts["weights"] = str(self._weights(listed))
        for colour in COLOURS:
            facts[colour] = f"{self.groups[colour]} weight {listed.get(self.groups[colour], 0)}"
        config = self._forward(listener).get("ForwardConfig", {})
        sticky = config.get("TargetGroupStickinessConfig", {})
        facts["sticky"] = (
            f"yes, {sticky.get('DurationSeconds')}s" if sticky.get("Enabled") else "no"
        )
        return facts

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    async def _listener(self) -> dict[str, Any]:
        reply = await self._aws("describe_listeners", ListenerArns=[self.listener_arn])
        listeners = reply.get("Listeners", [])
        if not listeners:
            raise RouterRejected(f"ALB listener {self.listener_arn} not found: check listener_arn")
        return listeners[0]

    def _forward_index(self, actions: list[dict[str, Any]]) -> int:
        for index, action in enumerate(actions):
            if action.get("Type") == "forward":
                return index
        kinds = ", ".join(a.get("Type", "?") for a in actions) or "none"
        raise RouterMismatch(
            f"ALB listener {self.listener_arn} default action is not a forward ({kinds}): "
            "cdtui shifts traffic with a weighted forward; make the default action forward"
        )

    def _forward(self, listener: dict[str, Any]) -> dict[str, Any]:
        actions = listener.get("DefaultActions", [])
        return actions[self._forward_index(actions)]

    def _check_foreign(self, listed: dict[str, int]) -> None:
        foreign = set(listed) - set(self.groups.values())
        if foreign:
            raise RouterMismatch(
                f"ALB listener also forwards to {', '.join(sorted(foreign))}, neither blue nor "
                "green: remove it from the listener, or name it in the release block"
            )

    def _weights(self, listed: dict[str, int]) -> Weights:
        self._check_foreign(listed)
        try:
            return Weights.from_ratio(*(listed.get(self.groups[c], 0) for c in COLOURS))
        except InvalidWeights:
            raise RouterMismatch(
                f"ALB listener {self.listener_arn} gives blue and green weight 0: set weights"
            ) from None

    async def _check_groups(self) -> None:
        """Both target groups exist (moto would accept a made-up ARN); checked once."""
        if self._groups_checked:
            return
        reply = await self._aws(
            "describe_target_groups", TargetGroupArns=list(self.groups.values())
        )
        found = {group["TargetGroupArn"] for group in reply.get("TargetGroups", [])}
        for colour in COLOURS:
            if self.groups[colour] not in found:
                raise RouterRejected(
                    f"{colour} target group {self.groups[colour]} not found: "
                    f"check {colour}_target_group_arn in the release block"
                )
        self._groups_checked = True

    def _elbv2(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "elbv2", region_name=self.region, endpoint_url=self.endpoint_url
            )
        return self._client

    async def _aws(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._call, method, kwargs)

    def _call(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        from botocore import exceptions as aws

        try:
            return getattr(self._elbv2(), method)(**kwargs)
        except aws.NoRegionError:
            raise RouterError(
                "no AWS region for the alb router: set router.region or AWS_DEFAULT_REGION"
            ) from None
        except (aws.NoCredentialsError, aws.PartialCredentialsError):
            raise RouterUnreachable(
                "no AWS credentials for the alb router: set AWS_PROFILE, or AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY"
            ) from None
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as exc:
            raise RouterUnreachable(f"cannot reach the AWS API: {exc}") from None
        except aws.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", str(exc))
            if code in _NOT_FOUND:
                raise RouterRejected(f"AWS {code}: {message}: check {_NOT_FOUND[code]}") from None
            if "AccessDenied" in code or "Unauthorized" in code:
                raise RouterRejected(
                    f"AWS {code} on {method}: the credentials need elasticloadbalancing:"
                    "DescribeListeners, DescribeTargetGroups, DescribeLoadBalancers, ModifyListener"
                ) from None
            raise RouterError(f"AWS {code} on {method}: {message}") from None


def _group_weights(action: dict[str, Any]) -> dict[str, int]:
    """Target group ARN -> weight of a forward action (the single-group form counts as 1)."""
    config = action.get("ForwardConfig")
    if config and config.get("TargetGroups"):
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in config["TargetGroups"]}
    return {action["TargetGroupArn"]: 1} if action.get("TargetGroupArn") else {}


def _reusable(action: dict[str, Any]) -> dict[str, Any]:
    """A described action as modify_listener accepts it back (secrets are not described)."""
    action = copy.deepcopy(action)
    if action.get("Type") == "forward" and action.get("ForwardConfig"):
        action.pop("TargetGroupArn", None)
    oidc = action.get("AuthenticateOidcConfig")
    if oidc is not None and "ClientSecret" not in oidc:
        oidc["UseExistingClientSecret"] = True
    return action
