"""``python -m shop.seed --db PATH``: create and seed the catalogue (the seed-db stage)."""

from __future__ import annotations

import argparse
import sys

from shop import db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.seed", description=__doc__)
    parser.add_argument("--db", required=True, help="SQLite file to create or refresh")
    args = parser.parse_args(argv)
    count = db.seed_file(args.db)
    print(f"seeded {count} products into {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
