"""The UI-free core: runs a pipeline and emits events."""
