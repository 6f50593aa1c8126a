"""The console's screens: main, gate and confirmation modals, history, config errors."""
