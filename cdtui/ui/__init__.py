"""The Textual console: app, screens, widgets, and the UI-free log readers they use."""
