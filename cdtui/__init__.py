"""cdtui: a terminal deployment console."""

__version__ = "0.1.0"
