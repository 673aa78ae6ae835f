"""The ``microstructure`` command: one entry point for every process of DESIGN §3.

This module is the composition root: it alone wires ``ingest``, ``udx`` and ``server`` together. Each
sub-command reads the settings once and hands them down.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from sql.backend import DatabaseHeld, StorageError
from sql.settings import Settings, load_settings

__all__ = ["main"]

log = logging.getLogger("microstructure")


def _configure_logging(level: str) -> None:
    # Logs go to stderr: on stdio, stdout is the MCP wire.
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # Per-request chatter of the SDK and of websockets ("Terminating session", "connection open").
    for noisy in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager", "websockets.server",
                   "httpx2"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _host(settings: Settings, roles: Sequence[str], *, simulate: bool, mode: str) -> int:
    """Run the embedded process hosting ``roles``; a refused Polygon key or a spool another process holds is a
    one-line error."""
    from ingest.feed import PolygonAuthError
    from ingest.spool import SpoolBusy
    from server.embedded import run_embedded

    try:
        asyncio.run(run_embedded(settings, roles=roles, simulate=simulate, mode=mode))
    except PolygonAuthError as exc:
        print(f"microstructure: {exc}. Check POLYGON_API_KEY and that your plan includes WebSockets "
              f"for POLYGON_MARKET={settings.polygon_market}.", file=sys.stderr)
        return 1
    except SpoolBusy as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from server.embedded import default_roles

    return _host(settings, default_roles(settings), simulate=True, mode="demo")


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from server.embedded import default_roles

    return _host(settings, default_roles(settings), simulate=False, mode="run")


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from server.embedded import check_roles, default_roles

    roles = [r.strip() for r in args.roles.split(",") if r.strip()] if args.roles else default_roles(settings)
    chosen = check_roles(settings, roles, simulate=args.simulate)
    if chosen == {"stream"} and settings.kafka_bootstrap_servers:  # into Kafka only: the database is not needed
        return _cmd_stream(settings, args)
    return _host(settings, roles, simulate=args.simulate, mode="up")


def _cmd_stream(settings: Settings, args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from ingest.feed import PolygonAuthError
    from ingest.spool import SpoolBusy
    from ingest.stream import run_stream

    try:
        summary = asyncio.run(run_stream(settings, simulate=args.simulate))
    except PolygonAuthError as exc:
        print(f"microstructure: {exc}. Check POLYGON_API_KEY.", file=sys.stderr)
        return 1
    except SpoolBusy as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:  # the broker stayed away for ensure_topics' whole wait
        print(f"microstructure: Kafka at KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} is not ready: "
              f"{exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 2
    return 1 if summary.lost else 0


def _cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import threading

    from ingest.load import run_loader
    from ingest.stats import serve_metrics
    from server.owner import owning_database
    from sql.backend import open_storage

    if not settings.kafka_bootstrap_servers:
        print("microstructure: KAFKA_BOOTSTRAP_SERVERS is not set: 'load' reads from Kafka", file=sys.stderr)
        return 2

    def install(stop: threading.Event) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

    serve_metrics(settings.metrics_host, settings.metrics_port)
    # The loader reads back only the newest row groups; a bigger cache only fills up with what it appended.
    storage = open_storage(settings.for_loader())
    try:
        with owning_database(settings, ["load"]) as publish:
            publish(None)  # no server: others learn who holds the file, not where to ask
            storage.apply_schema()
            summary = run_loader(settings, storage, drain=args.drain, install_signals=install)
    finally:
        storage.close()
    log.info("load: %d records, %d trades and %d quotes added, %d dead-lettered, %d commits", summary.records,
             summary.trades_added, summary.quotes_added, summary.dead_lettered, summary.commits)
    return 0


def _cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from ingest.quotes_flatfile import UnknownFlatFile
    from ingest.replay import replay_paths

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"microstructure: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        replay_paths(settings, [Path(f) for f in args.files], progress=not args.quiet)
    except UnknownFlatFile as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.simulator import run_simulator

    run_simulator(settings)
    return 0


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from server.standalone import serve

    serve(settings, transport=args.transport)
    return 0


def _cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.sql_command import sql_main

    return sql_main(settings, args.statement, fmt=args.format, limit=args.limit,
                    output=Path(args.output) if args.output else None)  # fmt: skip


def _cmd_transform(settings: Settings, args: argparse.Namespace) -> int:
    from server.standalone import transform
    from udx.recompute import parse_since

    if (args.symbols or args.since) and not args.recompute:
        print("microstructure: --symbols and --since go with --recompute", file=sys.stderr)
        return 2
    try:
        since_ns = parse_since(args.since) if args.since else None
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
        transform(settings, follow=args.follow, recompute=args.recompute, symbols=symbols, since_ns=since_ns)
    except ValueError as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_archive(settings: Settings, args: argparse.Namespace) -> int:
    from sql.archive import archive
    from sql.compact import compact
    from sql.duckdb_backend import DuckDBStorage

    if settings.db_backend == "vertica":
        from sql.vertica_backend import VerticaStorage
        from sql.vertica_retention import archive_vertica

        storage = VerticaStorage.open(settings)
        try:
            print("\n".join(archive_vertica(storage, settings)) or "nothing to archive")
        finally:
            storage.close()
        return 0
    try:
        storage = DuckDBStorage.open(settings)
    except DatabaseHeld as exc:
        print(f"microstructure: {settings.duckdb_path} is held by process {exc.pid or '?'} (its owner): archive runs "
              "inside the owner (ARCHIVE_INTERVAL_SECONDS > 0) or with it stopped, and --compact only with it "
              "stopped", file=sys.stderr)
        return 1
    try:
        storage.apply_schema()
        print(archive(storage, settings).summary())
    finally:
        storage.close()
    if args.compact:
        print(compact(settings).summary())
    return 0


def _cmd_vertica_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from sql.vertica_backend import VerticaStorage

    storage = VerticaStorage.open(settings.model_copy(update={"db_backend": "vertica"}))
    try:
        applied = storage.migrate()
    finally:
        storage.close()
    log.info("vertica migrate: %s", ", ".join(f"{m.version:03d} {m.name}" for m in applied) or "nothing to apply")
    return 0


def _cmd_vertica_install_udx(settings: Settings, args: argparse.Namespace) -> int:
    from sql.vertica_backend import VerticaStorage

    storage = VerticaStorage.open(settings.model_copy(update={"db_backend": "vertica"}))
    try:
        storage.install_udx(args.library_path, args.depends)
    finally:
        storage.close()
    log.info("installed batch_microstructure from %s (DEPENDS %s)", args.library_path, args.depends)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microstructure",
        description="Polygon trades -> DuckDB/Vertica -> microstructure signals -> MCP. "
        "Settings come from the environment and .env (see .env.example).",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="simulated market end to end on DuckDB, no API key needed")
    demo.set_defaults(handler=_cmd_demo)

    run = commands.add_parser("run", help="like demo, on the real Polygon feed (needs POLYGON_API_KEY)")
    run.set_defaults(handler=_cmd_run)

    up = commands.add_parser("up", help="host any set of roles around one database in this process (the process "
                             "that owns a DuckDB file serves everyone else)")
    up.add_argument("--roles", metavar="ROLE[,ROLE...]",
                    help="comma-separated, from stream, load, transform, serve (default: all; load only with "
                    "KAFKA_BOOTSTRAP_SERVERS, without it stream writes straight into the database)")
    up.add_argument("--simulate", action="store_true",
                    help="the stream role reads the local simulator (after backfilling simulated history into an "
                    "empty database) instead of POLYGON_FEED; demo = up --simulate")
    up.set_defaults(handler=_cmd_up)

    stream = commands.add_parser("stream", help="Polygon WebSocket -> Kafka (needs KAFKA_BOOTSTRAP_SERVERS)")
    stream.add_argument("--simulate", action="store_true",
                        help="read an in-process simulator (SIM_RATE, SIM_SEED) instead of POLYGON_FEED")
    stream.set_defaults(handler=_cmd_stream)

    load = commands.add_parser("load", help="Kafka -> database in batches, offsets committed after each write")
    load.add_argument("--drain", action="store_true",
                      help="stop once every partition is loaded up to its end at start; exit 0")
    load.set_defaults(handler=_cmd_load)

    replay = commands.add_parser("replay", help="Polygon flat files (trades_v1 or quotes_v1 CSV[.gz]) -> Kafka, "
                                 "or the database when KAFKA_BOOTSTRAP_SERVERS is unset")
    replay.add_argument("files", nargs="+", metavar="FILE",
                        help="trades_v1 or quotes_v1 .csv or .csv.gz files, or a stream spool (JSON lines)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(handler=_cmd_replay)

    simulate = commands.add_parser("simulate", help="serve the Polygon WebSocket protocol on SIM_HOST:SIM_PORT")
    simulate.set_defaults(handler=_cmd_simulate)

    serve = commands.add_parser("serve", help="serve the MCP tools over a database no other process writes")
    serve.add_argument("--transport", choices=("http", "stdio"), default="http", help="default http")
    serve.set_defaults(handler=_cmd_serve)

    sql = commands.add_parser("sql", help="run read-only SQL over the tables and views: through the process that "
                              "owns the DuckDB file, else on the file opened read-only; no statement: a shell")
    sql.add_argument("statement", nargs="?", help="one SELECT (or WITH ... SELECT); omit for an interactive shell")
    sql.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table",
                     help="default table; parquet goes to --output or a redirected stdout")
    sql.add_argument("--limit", type=int, help="rows at most (default MCP_DEFAULT_ROWS, up to MCP_MAX_ROWS)")
    sql.add_argument("--output", metavar="FILE", help="write the result to FILE instead of stdout")
    sql.set_defaults(handler=_cmd_sql)

    transform = commands.add_parser("transform", help="compute trading_signals from market_data")
    mode = transform.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="process what is new, then exit (default)")
    mode.add_argument("--follow", action="store_true", help="keep processing every TRANSFORM_INTERVAL_SECONDS")
    transform.add_argument("--recompute", action="store_true",
                           help="first recompute the signals of --symbols (default all) from their first trade, "
                           "or from the session holding --since")
    transform.add_argument("--symbols", metavar="A,B", help="with --recompute: comma-separated symbols")
    transform.add_argument("--since", metavar="ISO", help="with --recompute: ISO-8601 date or time (UTC unless "
                           "an offset is given); recompute from the start of its session")
    transform.set_defaults(handler=_cmd_transform)

    archive = commands.add_parser("archive", help="move days older than RETAIN_*_DAYS to the Parquet archive "
                                  "(ARCHIVE_PATH), with the owner of the DuckDB file stopped")
    archive.add_argument("--compact", action="store_true",
                         help="then copy the file's live rows into a new file and swap it in (the file shrinks)")
    archive.set_defaults(handler=_cmd_archive)

    vertica = commands.add_parser("vertica", help="Vertica administration (VERTICA_HOST, VERTICA_USER, ...)")
    vertica_commands = vertica.add_subparsers(dest="vertica_command", required=True, metavar="ACTION")
    install = vertica_commands.add_parser(
        "install-udx", help="create the batch_microstructure UDx (sql/vertica/udx/install.sql); needs a superuser")
    install.add_argument("--library-path", default="/opt/microstructure/udx/vertica_udx.py",
                         help="udx/vertica_udx.py as seen by the Vertica nodes (default %(default)s)")
    install.add_argument("--depends", default="/opt/microstructure/udx/site-packages/*",
                         help="DEPENDS glob of the UDx site-packages on the nodes (default %(default)s)")
    install.set_defaults(handler=_cmd_vertica_install_udx)
    migrate = vertica_commands.add_parser(
        "migrate", help="create missing tables and apply the pending migrations of sql/vertica/migrations/, "
        "each once (schema_version)")
    migrate.set_defaults(handler=_cmd_vertica_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microstructure`` command line; return the exit status."""
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        settings = load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        print(f"microstructure: invalid settings: {problems}", file=sys.stderr)
        return 2
    from server.listen import ListenError
    from server.startup_error import StartupError
    from server.owner import holder_message

    try:
        return int(args.handler(settings, args))
    except DatabaseHeld as exc:
        print(f"microstructure: {holder_message(exc)}", file=sys.stderr)
        return 1
    except (StorageError, StartupError, ListenError) as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
