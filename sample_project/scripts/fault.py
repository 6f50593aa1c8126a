"""Break or heal one colour of the release demo at runtime: ``fault.py on|off|crash blue|green``.

The shop started by scripts/deploy.py checks .cdtui-demo/fault-<colour> on every request: while it
exists, every request (/health included) answers 500, so cdtui's health checks see a bad colour.
``crash`` stops the colour's server instead (a lost machine: nothing answers on its port), which
only a fresh deploy mends: the monitor's ``recover`` action.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STATE_DIR = Path(__file__).resolve().parent.parent / ".cdtui-demo"
COLOURS = ("blue", "green")


def switch(action: str, colour: str, state_dir: Path = STATE_DIR) -> str:
    """Create or remove the colour's fault file (or stop its server); what it did and what
    cdtui will do about it."""
    if action == "crash":
        return crash(colour, state_dir)
    fault = state_dir / f"fault-{colour}"
    if action == "on":
        state_dir.mkdir(parents=True, exist_ok=True)
        fault.touch()
        return (
            f"{colour} now fails /health (every request answers 500): a release in progress "
            f"will roll back within ~2 s; a new release to {colour} stops at its preflight "
            f"checks; `python scripts/fault.py off {colour}` heals it"
        )
    existed = fault.exists()
    fault.unlink(missing_ok=True)
    if not existed:
        return f"{colour} had no fault switched on; nothing to do"
    return f"{colour} answers /health again: the next release can shift traffic to it"


def crash(colour: str, state_dir: Path = STATE_DIR) -> str:
    """Stop the colour's server as if its machine were gone."""
    try:  # imported as scripts.fault by the unit tests, run as scripts/fault.py
        from scripts.deploy import Colour, stop
    except ModuleNotFoundError:
        from deploy import Colour, stop

    said = stop(Colour(colour, 0, state_dir))
    return (
        f"{said}: nothing answers for {colour} now; a rollback onto it is refused, and the "
        "monitor's recover action deploys it afresh from the last good artifact"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("on", "off", "crash"))
    parser.add_argument("colour", choices=COLOURS)
    args = parser.parse_args(argv)
    try:
        print(f"fault: {switch(args.action, args.colour)}")
    except OSError as exc:
        print(f"fault: cannot switch {args.colour} {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
