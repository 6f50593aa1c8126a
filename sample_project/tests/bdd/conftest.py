"""Step definitions for the shop's features, and the fidelity each scenario runs at.

Every scenario runs in-process and over HTTP; ``@packaged`` ones also against the built .pyz,
``@socket`` ones never in-process. The fidelity is a session-scoped parameter, so pytest runs
all in-process scenarios first, then HTTP, then the .pyz: lowest fidelity to highest, as the
Acceptance phase orders its evidence. A failing step names its scenario in the summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

import package
from shop import __version__
from tests.bdd.drivers import FIDELITIES, Reply, RunningShop, ShopOptions, start

FAILED_SCENARIOS: list[str] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fidelity" not in metafunc.fixturenames:
        return
    tags = {mark.name for mark in metafunc.definition.iter_markers()}
    levels = [f for f in FIDELITIES if f != "pyz" or "packaged" in tags]
    if "socket" in tags:
        levels.remove("in-process")
    metafunc.parametrize("fidelity", levels, scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Lowest fidelity first, whatever order parametrizing left (a stable sort)."""

    def level(item: pytest.Item) -> int:
        params = getattr(item, "callspec", None)
        chosen = params.params.get("fidelity") if params else None
        return FIDELITIES.index(chosen) if chosen in FIDELITIES else 0

    items.sort(key=level)


@pytest.fixture(autouse=True)
def fidelity(request: pytest.FixtureRequest) -> str:
    """Autouse, so every scenario is parametrized with it (steps ask for fixtures late)."""
    return request.param


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact as the package stage builds it, built once per session."""
    return package.build(package.HERE, tmp_path_factory.mktemp("dist"))


@pytest.fixture
def launch(request: pytest.FixtureRequest, fidelity: str, tmp_path: Path) -> Iterator:
    started: list[RunningShop] = []

    def run(options: ShopOptions) -> RunningShop:
        artifact = request.getfixturevalue("pyz") if fidelity == "pyz" else None
        started.append(start(fidelity, tmp_path, options, artifact))
        return started[-1]

    yield run
    for shop in started:
        shop.stop()


@pytest.fixture
def replies() -> list[Reply]:
    return []


# -- Given ----------------------------------------------------------------------------------
@given("the shop is running", target_fixture="shop")
def running_shop(launch) -> RunningShop:
    return launch(ShopOptions())


@given(parsers.parse("the shop is running as the {colour} deployment"), target_fixture="shop")
def running_as(launch, colour: str) -> RunningShop:
    return launch(ShopOptions(colour=colour))


@given("the shop is running with a fault file", target_fixture="shop")
def running_with_fault_file(launch, tmp_path: Path) -> RunningShop:
    return launch(ShopOptions(fault_file=str(tmp_path / "fault")))


@given(parsers.parse("the shop is running with a fail rate of {rate:g}"), target_fixture="shop")
def running_with_fail_rate(launch, rate: float) -> RunningShop:
    return launch(ShopOptions(fail_rate=rate))


# -- When -----------------------------------------------------------------------------------
@when(parsers.re(r'I get "(?P<path>[^"]+)"$'))
def get(shop: RunningShop, replies: list[Reply], path: str) -> None:
    replies.append(shop.get(path))


@when(parsers.parse('I get "{path}" {count:d} times'))
def get_many(shop: RunningShop, replies: list[Reply], path: str, count: int) -> None:
    replies.extend(shop.get(path) for _ in range(count))


@when(parsers.parse('I add product {product:d} to cart "{cart}"'))
def add_to_cart(shop: RunningShop, replies: list[Reply], product: int, cart: str) -> None:
    replies.append(shop.post(f"/api/carts/{cart}/items/{product}"))


@when("the fault file is touched")
def touch_fault(tmp_path: Path) -> None:
    (tmp_path / "fault").touch()


@when("the fault file is removed")
def remove_fault(tmp_path: Path) -> None:
    (tmp_path / "fault").unlink()


@when(parsers.parse('{clients:d} clients each get "{path}" twice at once'))
def burst(shop: RunningShop, replies: list[Reply], clients: int, path: str) -> None:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        replies.extend(pool.map(lambda _: shop.get(path), range(clients * 2)))


# -- Then -----------------------------------------------------------------------------------
@then(parsers.parse("the status is {status:d}"))
def status_is(replies: list[Reply], status: int) -> None:
    got = replies[-1]
    assert got.status == status, f"status {got.status}, expected {status}: {got.body[:120]!r}"


@then(parsers.parse('the "{name}" header is "{value}"'))
def header_is(replies: list[Reply], name: str, value: str) -> None:
    assert replies[-1].headers.get(name) == value


@then(parsers.parse('the "{name}" header is the shop\'s version'))
def header_is_version(replies: list[Reply], name: str) -> None:
    assert replies[-1].headers.get(name) == __version__


@then(parsers.re(r'the JSON field "(?P<name>[^"]+)" is (?P<value>"[^"]*"|true|false|-?\d[\d.]*)$'))
def json_field_is(replies: list[Reply], name: str, value: str) -> None:
    assert replies[-1].json().get(name) == json.loads(value)


@then(parsers.parse('the JSON field "{name}" is the shop\'s version'))
def json_field_is_version(replies: list[Reply], name: str) -> None:
    assert replies[-1].json().get(name) == __version__


@then(parsers.parse('the body contains "{text}"'))
def body_contains(replies: list[Reply], text: str) -> None:
    assert text.encode() in replies[-1].body


@then(parsers.parse("{count:d} products are listed"))
def products_listed(replies: list[Reply], count: int) -> None:
    assert len(replies[-1].json()["products"]) == count


@then(parsers.parse('the product names include "{name}"'))
def product_names_include(replies: list[Reply], name: str) -> None:
    assert name in [product["name"] for product in replies[-1].json()["products"]]


@then(parsers.parse('cart "{cart}" holds {count:d} items'))
def cart_holds(shop: RunningShop, cart: str, count: int) -> None:
    assert shop.get(f"/api/carts/{cart}").json()["count"] == count


@then(parsers.parse("{count:d} of them answered {status:d}"))
def some_answered(replies: list[Reply], count: int, status: int) -> None:
    assert [r.status for r in replies].count(status) == count


@then(parsers.parse("all of them answered {status:d}"))
def all_answered(replies: list[Reply], status: int) -> None:
    assert replies and {r.status for r in replies} == {status}


# -- naming what failed ------------------------------------------------------------------------
def pytest_bdd_step_error(request, feature, scenario, step, step_func, step_func_args, exception):
    _failed(request, feature, scenario, f"at step '{step.keyword} {step.name}'", exception)


def pytest_bdd_step_func_lookup_error(request, feature, scenario, step, exception):
    _failed(request, feature, scenario, f"no step definition for '{step.name}'", exception)


def _failed(request, feature, scenario, where: str, exception: BaseException) -> None:
    fidelity = request.node.callspec.params.get("fidelity", "?")
    said = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
    why = f"{type(exception).__name__}: {said}" if said else type(exception).__name__
    FAILED_SCENARIOS.append(
        f"Scenario: {scenario.name} [{fidelity}] ({feature.rel_filename}:{scenario.line_number})"
        f" failed {where}: {why}"
    )


def pytest_terminal_summary(terminalreporter) -> None:
    if FAILED_SCENARIOS:
        terminalreporter.section("failed scenarios")
        for line in FAILED_SCENARIOS:
            terminalreporter.write_line(f"✗ {line}")
