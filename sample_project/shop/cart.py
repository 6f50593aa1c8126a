"""Shopping carts in memory, one per id the storefront page makes up: enough for a browser test
to add to a cart and see it counted, with no accounts or sessions to set up."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

CART_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_CARTS = 1000  # the oldest cart is dropped past this: memory stays bounded under load
MAX_QUANTITY = 99


class Carts:
    """cart id -> {product id: quantity}; safe from the server's request threads."""

    def __init__(self, limit: int = MAX_CARTS) -> None:
        self.limit = limit
        self._carts: OrderedDict[str, dict[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, cart: str, product_id: int) -> dict[int, int]:
        with self._lock:
            items = self._carts.pop(cart, {})
            items[product_id] = min(items.get(product_id, 0) + 1, MAX_QUANTITY)
            self._carts[cart] = items
            while len(self._carts) > self.limit:
                self._carts.popitem(last=False)
            return dict(items)

    def items(self, cart: str) -> dict[int, int]:
        with self._lock:
            return dict(self._carts.get(cart, {}))
