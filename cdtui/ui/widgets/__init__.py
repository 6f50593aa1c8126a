"""The console's widgets, one per module, each named for what the operator sees."""
