"""Notifications: events from the bus, through a durable outbox, to sinks (see ``base``)."""
