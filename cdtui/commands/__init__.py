"""The click commands of ``cdtui``; cli.py registers them on the group."""
