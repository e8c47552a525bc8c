"""The ``kb`` command line: harvest, import, tag, inspect and serve the knowledge base."""

from __future__ import annotations

import importlib
import logging
import sys

import click
from sqlalchemy.engine import Engine

from kb.config import ConfigError, load_config

# Modules that add commands to the ``kb`` group: each defines ``register(group)``.
COMMAND_MODULES = (
    "kb.commands.data",
    "kb.commands.harvest",
    "kb.commands.tagging",
    "kb.commands.serve",
    "kb.commands.ops",
)

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran and failed (a source down, records lost)
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_PARTIAL = 3  # the job finished but some items were quarantined or missing
EXIT_LOCKED = 4  # another run holds the lock


class Context:
    """Shared state of one invocation: the resolved configuration and output flags."""

    def __init__(self, config_path: str | None, database_url: str | None, quiet: bool,
                 as_json: bool) -> None:
        self.config = load_config(config_path, overrides={"database.url": database_url})
        self.quiet = quiet
        self.json = as_json
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        """The knowledge-base engine (created, with its tables, on first use)."""
        if self._engine is None:
            from kb.db import make_engine

            self._engine = make_engine(self.config.database_url)
        return self._engine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Settings file (default: ./config.toml, or $KB_CONFIG).")
@click.option("--database-url", default=None, help="SQLAlchemy URL (overrides KB_DATABASE_URL).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or informational output.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, database_url: str | None, quiet: bool,
        as_json: bool, verbose: int) -> None:
    """ketamine-kb: a living evidence knowledge base on ketamine therapy.

    Harvest PubMed, Europe PMC and ClinicalTrials.gov, store and deduplicate records, tag them
    along the evidence taxonomy, and browse them in the dashboard (`kb serve`).

    Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 finished with some items
    quarantined or missing.
    """
    level = logging.WARNING - 10 * verbose if not quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ctx.obj = Context(config_path, database_url, quiet, as_json)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
