"""shop: a tiny catalogue service, cdtui's demo and end-to-end test bed (standard library only)."""

from __future__ import annotations

__version__ = "1.2.0"
