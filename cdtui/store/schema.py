"""The tables of runs.db, all append-only: triggers make UPDATE and DELETE fail, so history can
only be extended. Current state is always derived from the newest row.

``release_records`` (store/releases.py) lives in the same file but keeps its own schema, created
by the release code that writes it synchronously.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 5  # 2: artifacts, metrics; 3: deployments, alerts, released_commits, carried_over
# 4: stage_procs; 5: stage_outputs, run_commits, step_states (pipeline language), artifact_records,
# promotions, artifact_removals (cdtui/artifacts/records.py), monitor_alerts, monitor_actions

TABLES = {
    "runs": """id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, user TEXT NOT NULL,
        selection TEXT NOT NULL, created REAL NOT NULL, pid INTEGER NOT NULL,
        hostname TEXT NOT NULL, proc_start INTEGER, boot_id TEXT NOT NULL""",
    "run_states": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        status TEXT NOT NULL, at REAL NOT NULL, reason TEXT NOT NULL DEFAULT ''""",
    "phase_states": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT ''""",
    "attempt_states": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL,
        status TEXT NOT NULL, at REAL NOT NULL, exit_code INTEGER, host TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', command TEXT NOT NULL DEFAULT '', pid INTEGER""",
    "approvals": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, who TEXT NOT NULL, at REAL NOT NULL""",
    "notices": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        level TEXT NOT NULL, text TEXT NOT NULL, phase TEXT NOT NULL, stage TEXT NOT NULL,
        at REAL NOT NULL, extra TEXT NOT NULL DEFAULT '{}'""",
    "artifacts": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, path TEXT NOT NULL,
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, at REAL NOT NULL""",
    "metrics": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, name TEXT NOT NULL,
        value REAL NOT NULL, unit TEXT NOT NULL DEFAULT '', threshold REAL,
        op TEXT NOT NULL DEFAULT '<=', ok INTEGER, at REAL NOT NULL""",
    "deployments": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        colour TEXT NOT NULL, sha256 TEXT NOT NULL, artifact TEXT NOT NULL,
        built_by INTEGER NOT NULL, at REAL NOT NULL""",
    "alerts": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        text TEXT NOT NULL, level TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL""",
    "released_commits": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        git_commit TEXT NOT NULL, at REAL NOT NULL""",
    # What finds a local attempt's processes after cdtui died (orphans.py).
    "stage_procs": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, pgid INTEGER NOT NULL,
        token TEXT NOT NULL, since INTEGER NOT NULL, boot_id TEXT NOT NULL, at REAL NOT NULL""",
    # What a stage wrote to $CDTUI_OUTPUT (kind 'output') and $CDTUI_ENV ('env'), masked
    # (engine/outputs.py): a later process still resolves ${stages.NAME.outputs.KEY}.
    "stage_outputs": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, at REAL NOT NULL""",
    # Each steps: entry of an attempt, as it starts and ends (engine/steps.py).
    "step_states": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL, step TEXT NOT NULL,
        idx INTEGER NOT NULL, status TEXT NOT NULL, at REAL NOT NULL, exit_code INTEGER,
        duration REAL, reason TEXT NOT NULL DEFAULT ''""",
    # The commit a run tested (checkout: clean), and whether the tree had changes it left out.
    "run_commits": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        git_commit TEXT NOT NULL, dirty INTEGER NOT NULL, at REAL NOT NULL""",
    # Artifact provenance, promotions (compare-and-swap) and gc removals, written synchronously
    # by cdtui/artifacts/records.py, which also creates them on a store it opens first.
    "artifact_records": """seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
        phase TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL,
        name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
        git_commit TEXT NOT NULL DEFAULT '', location TEXT NOT NULL, at REAL NOT NULL""",
    "promotions": """seq INTEGER PRIMARY KEY AUTOINCREMENT, env TEXT NOT NULL,
        run_id INTEGER NOT NULL, previous INTEGER, who TEXT NOT NULL, at REAL NOT NULL""",
    "artifact_removals": """seq INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL,
        location TEXT NOT NULL, at REAL NOT NULL""",
    # `cdtui monitor`'s alert states (firing, resolved, repeated) with their evidence, and the
    # actions it took (store/monitor_rows.py): a restarted monitor re-fires nothing.
    "monitor_alerts": """seq INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL,
        state TEXT NOT NULL, check_name TEXT NOT NULL, cause TEXT NOT NULL, text TEXT NOT NULL,
        level TEXT NOT NULL, evidence TEXT NOT NULL DEFAULT '{}', fired_at REAL NOT NULL,
        at REAL NOT NULL""",
    "monitor_actions": """seq INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL,
        action TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        run_id INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL""",
    # One row per side file of the old layout imported into the tables above (carryover.py).
    "carried_over": """seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
        sha256 TEXT NOT NULL, rows INTEGER NOT NULL, at REAL NOT NULL""",
}
INDEXES = (
    "CREATE INDEX IF NOT EXISTS run_states_run ON run_states(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS phase_states_run ON phase_states(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS attempt_states_run ON attempt_states(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS approvals_run ON approvals(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS notices_run ON notices(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS artifacts_sha256 ON artifacts(sha256, run_id)",
    "CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS step_states_run ON step_states(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS stage_outputs_stage ON stage_outputs(phase, stage, seq)",
    "CREATE INDEX IF NOT EXISTS stage_procs_run ON stage_procs(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS deployments_colour ON deployments(colour, seq)",
    "CREATE INDEX IF NOT EXISTS artifact_records_run ON artifact_records(run_id, seq)",
    "CREATE INDEX IF NOT EXISTS promotions_env ON promotions(env, seq)",
    "CREATE INDEX IF NOT EXISTS monitor_alerts_alert ON monitor_alerts(alert, seq)",
    "CREATE INDEX IF NOT EXISTS monitor_actions_alert ON monitor_actions(alert, action, seq)",
)


class StoreError(Exception):
    """The run store cannot be used as it is (e.g. written by a newer cdtui)."""


def statements() -> list[str]:
    found = [f"CREATE TABLE IF NOT EXISTS {name} ({cols})" for name, cols in TABLES.items()]
    found += INDEXES
    for name in TABLES:
        for op in ("UPDATE", "DELETE"):
            found.append(
                f"CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON {name} "
                f"BEGIN SELECT RAISE(ABORT, '{name} is append-only: {op} is not allowed'); END"
            )
    return found


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older store up to SCHEMA_VERSION; takes the write lock only when it must."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer cdtui (schema {version}); upgrade cdtui")
    if version == SCHEMA_VERSION:
        return
    # Every statement is IF NOT EXISTS: an older store just gains what it lacks.
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements():
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
