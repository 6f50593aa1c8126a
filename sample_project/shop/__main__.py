"""``python -m shop serve`` (or ``python shop-<version>.pyz serve``): the service's command line."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from shop import __version__, db
from shop.config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shop", description="A tiny catalogue service.")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve HTTP (settings from SHOP_* env)")
    serve_cmd.add_argument("--host", help="bind address (SHOP_HOST, default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port (SHOP_PORT, default 8000)")
    serve_cmd.add_argument("--db", help="SQLite catalogue (SHOP_DB, default shop.db)")
    serve_cmd.add_argument("--colour", help="deployment colour (SHOP_COLOUR, default blue)")
    seed_cmd = commands.add_parser("seed", help="create and seed the catalogue")
    seed_cmd.add_argument("--db", required=True, help="SQLite file to create or refresh")
    args = parser.parse_args(argv)

    if args.command == "seed":
        print(f"seeded {db.seed_file(args.db)} products into {args.db}")
        return 0

    from shop.server import serve

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        parser.error(str(exc))
    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "db": args.db,
            "colour": args.colour,
        }.items()
        if value is not None
    }
    settings = replace(settings, **overrides)
    try:
        return serve(settings)
    except db.MissingDatabase as exc:
        print(f"shop: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shop: cannot serve on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
