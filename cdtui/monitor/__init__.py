"""Production monitoring that acts: checks, alert rules, actions (notify, rollback, recover, run).

``Session.monitor()`` builds the one monitor of a project (``build.py``); ``cdtui monitor`` runs
it headless, the console's monitor view reads what it shares (runs.db rows and its snapshot).
Light to import: the config side uses ``conditions`` to validate a pipeline file.
"""
