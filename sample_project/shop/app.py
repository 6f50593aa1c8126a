"""Requests to responses without sockets, so routing and payloads test as plain functions."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from shop import __version__, db
from shop.cart import CART_ID, Carts
from shop.faults import FaultSwitch

STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".ico": "image/x-icon",
    ".png": "image/png",
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def route(target: str) -> tuple[str, str | None]:
    """Map a request target to (endpoint, argument); unknown paths map to ``not_found``."""
    path = unquote(urlsplit(target).path)
    if path == "/health":
        return "health", None
    if path in ("/", "/index.html"):
        return "index", None
    if path.startswith("/static/"):
        name = path.removeprefix("/static/")
        return ("static", name) if STATIC_NAME.match(name) else ("not_found", None)
    if path.rstrip("/") == "/api/products":
        return "products", None
    if path.startswith("/api/carts/"):
        cart, _, rest = path.removeprefix("/api/carts/").partition("/")
        if not CART_ID.match(cart):
            return "not_found", None
        if rest.rstrip("/") == "":
            return "cart", cart
        ident = rest.removeprefix("items/").rstrip("/")
        if rest.startswith("items/") and ident.isdigit():
            return "cart_add", f"{cart}/{ident}"
        return "not_found", None
    if path.startswith("/api/products/"):
        ident = path.removeprefix("/api/products/").rstrip("/")
        return ("product", ident) if ident.isdigit() else ("not_found", None)
    return "not_found", None


def content_type_for(name: str) -> str:
    """A fixed table rather than ``mimetypes``, whose answers depend on the host's files."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def load_static() -> dict[str, bytes]:
    """Read shop/static once; ``importlib.resources`` finds it on disk and inside the .pyz."""
    folder = resources.files("shop").joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and STATIC_NAME.match(entry.name)
    }


def json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return Response(status, body, "application/json", {"Cache-Control": "no-store"})


class ShopApp:
    """The service's behaviour; the HTTP server only moves bytes to and from it."""

    def __init__(
        self,
        colour: str,
        connect: Callable[[], sqlite3.Connection],
        static: Mapping[str, bytes],
        faults: FaultSwitch | None = None,
    ) -> None:
        self.colour = colour
        self.connect = connect
        self.static = dict(static)
        self.faults = faults or FaultSwitch()
        self.carts = Carts()

    def handle(self, method: str, target: str) -> Response:
        """Answer one request; every response names the version and colour that served it."""
        response = self._dispatch(method, target)
        response.headers.update({"X-Shop-Version": __version__, "X-Shop-Colour": self.colour})
        return response

    def _dispatch(self, method: str, target: str) -> Response:
        endpoint, arg = route(target)
        allowed = ("POST",) if endpoint == "cart_add" else ("GET", "HEAD")
        if method not in allowed:
            response = json_response(405, {"error": f"method {method} not allowed"})
            response.headers["Allow"] = ", ".join(allowed)
            return response
        if self.faults.should_fail():
            return json_response(500, {"error": "injected fault", "colour": self.colour})
        if endpoint == "health":
            return json_response(
                200, {"status": "ok", "version": __version__, "colour": self.colour}
            )
        if endpoint == "index":
            return self._static("index.html")
        if endpoint == "static" and arg is not None:
            return self._static(arg)
        if endpoint == "products":
            return json_response(200, {"products": self._query(db.list_products)})
        if endpoint == "product" and arg is not None:
            product = self._query(lambda conn: db.get_product(conn, int(arg)))
            if product is None:
                return json_response(404, {"error": f"no product with id {arg}"})
            return json_response(200, product)
        if endpoint == "cart" and arg is not None:
            return json_response(200, self._cart(arg))
        if endpoint == "cart_add" and arg is not None:
            return self._add_to_cart(*arg.split("/"))
        return json_response(404, {"error": "not found"})

    def _add_to_cart(self, cart: str, ident: str) -> Response:
        product = self._query(lambda conn: db.get_product(conn, int(ident)))
        if product is None:
            return json_response(404, {"error": f"no product with id {ident}"})
        if not product["in_stock"]:
            return json_response(409, {"error": f"{product['name']} is out of stock"})
        self.carts.add(cart, product["id"])
        return json_response(200, self._cart(cart))

    def _cart(self, cart: str) -> dict[str, Any]:
        items = self.carts.items(cart)
        listed = [{"id": ident, "quantity": qty} for ident, qty in sorted(items.items())]
        return {"cart": cart, "items": listed, "count": sum(items.values())}

    def _static(self, name: str) -> Response:
        body = self.static.get(name)
        if body is None:
            return json_response(404, {"error": f"no static file {name}"})
        return Response(200, body, content_type_for(name), {"Cache-Control": "max-age=60"})

    def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self.connect()
        try:
            return fn(conn)
        finally:
            conn.close()
