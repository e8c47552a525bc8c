"""``kb serve`` (the Streamlit dashboard), ``kb lists`` and ``kb export`` (reading lists)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from kb import repository
from kb.commands.output import emit
from kb.exports import FORMATS, export


def dashboard_app() -> Path:
    """The dashboard's entry script (``dashboard/app.py``), found without importing it."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("the dashboard package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def streamlit_command(app: Path, port: int, address: str | None) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, no file watcher."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(app),
           "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "viewer", "--theme.base", "light"]
    if address:
        cmd += ["--server.address", address]
    return cmd


def serve_env(database_url: str, config_file: Path | None,
              base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the dashboard process: the resolved database URL (and config file)."""
    env = dict(os.environ if base is None else base)
    env["KB_DATABASE_URL"] = database_url
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    if config_file is not None:
        env["KB_CONFIG"] = str(Path(config_file).resolve())
    return env


@click.command("serve")
@click.option("--port", type=int, default=None, help="Port (default: dashboard.port, 8501).")
@click.option("--address", default=None,
              help="Address to listen on (default: Streamlit's, all interfaces).")
@click.pass_obj
def serve_cmd(obj, port: int | None, address: str | None) -> None:
    """Run the dashboard (Streamlit) on the configured database.

    Pages: evidence browser, evidence map, record, trends, what's new, trials, reading lists
    and tag review. The database URL is passed to the dashboard as KB_DATABASE_URL.
    """
    obj.engine().dispose()  # create tables / full-text index before the first page view
    cmd = streamlit_command(dashboard_app(), port or int(obj.config["dashboard.port"]), address)
    env = serve_env(obj.config.database_url, obj.config.config_file)
    if not obj.quiet:
        click.echo(f"serving the dashboard on port {cmd[cmd.index('--server.port') + 1]}",
                   err=True)
    sys.stdout.flush()
    os.execve(sys.executable, cmd, env)  # noqa: S606  (replace this process: signals reach Streamlit)


@click.command("lists")
@click.pass_obj
def lists_cmd(obj) -> None:
    """Reading lists with their ids and number of items."""
    rows = repository.reading_lists(obj.engine())
    data = [{"id": r["id"], "name": r["name"], "items": r["items"],
             "updated_at": r["updated_at"]} for r in rows]
    text = "\n".join(f"{r['id']:>5}  {r['items']:>4} items  {r['name']}" for r in data)
    emit(obj, data, text or "no reading lists yet (create one in the dashboard)")


@click.command("export")
@click.argument("list_id", type=int)
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="ris",
              show_default=True, help="ris (Zotero, EndNote), bibtex, csv or md.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.pass_obj
def export_cmd(obj, list_id: int, fmt: str, output: Path | None) -> None:
    """Export reading list LIST_ID (see `kb lists`); retracted records are flagged."""
    engine = obj.engine()
    meta = repository.get_reading_list(engine, list_id)
    if meta is None:
        raise click.ClickException(f"no reading list with id {list_id} (see `kb lists`)")
    items = repository.reading_list_items(engine, list_id)
    if fmt == "md":
        from kb.exports import to_markdown

        body = to_markdown(items, title=meta["name"], description=meta["description"])
    else:
        body = export(items, fmt)
    if output is None:
        click.echo(body, nl=False)
    else:
        output.write_text(body, encoding="utf-8", newline="")
        if not obj.quiet:
            click.echo(f"wrote {len(items)} records to {output}", err=True)


def register(group: click.Group) -> None:
    group.add_command(serve_cmd)
    group.add_command(lists_cmd)
    group.add_command(export_cmd)
