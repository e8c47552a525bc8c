"""The `kb` command line: help everywhere, JSON output, exit codes, secrets never printed."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kb.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
    return out


EXPECTED = {("harvest", "pubmed"), ("harvest", "europepmc"), ("harvest", "ctgov"),
            ("harvest", "all"), ("import",), ("stats",), ("serve",), ("run",), ("digest",),
            ("db", "upgrade"), ("db", "check"), ("db", "backup"), ("train",), ("tag",),
            ("classify",), ("evaluate",), ("export",), ("lists",)}


def test_every_documented_command_exists() -> None:
    assert set(all_commands(cli)) >= EXPECTED


@pytest.mark.parametrize("path", sorted(all_commands(cli)))
def test_every_command_has_clear_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    summary = result.output.split("\n\n")[1].strip()
    assert len(summary) > 15, f"{path}: help too thin: {summary!r}"


def test_harvest_options_are_the_same_for_every_source() -> None:
    for source in ("pubmed", "europepmc", "ctgov"):
        out = CliRunner().invoke(cli, ["harvest", source, "--help"]).output
        for opt in ("--query", "--since", "--until", "--max", "--base-url"):
            assert opt in out, (source, opt)


def test_import_and_stats_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    runner = CliRunner()
    res = runner.invoke(cli, ["--database-url", url, "--json", "import", "--sample"])
    assert res.exit_code == 0, res.output
    imported = json.loads(res.stdout)
    assert imported["inserted"] > 1300 and imported["errors"] == []
    stats = json.loads(runner.invoke(cli, ["--database-url", url, "--json", "stats"]).stdout)
    # Preprints merged into their published versions (or duplicates) are not counted twice.
    assert stats["records"] == imported["inserted"] - imported["links"]["versions"]
    assert stats["by_source"]["europepmc"] > 900
    assert stats["by_publication_type"]["Randomized Controlled Trial"] > 100


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["import"]).exit_code == 2
    bad = tmp_path / "c.toml"
    bad.write_text("[pubmed]\nno_such_setting = 1\n")
    res = runner.invoke(cli, ["--config", str(bad), "stats"])
    assert res.exit_code == 2 and "unknown setting" in res.output


def test_api_key_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "SECRET-KEY-123")
    monkeypatch.setenv("KB_HARVEST_RETRIES", "2")
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    res = CliRunner().invoke(cli, ["--database-url", url, "-vv", "harvest", "pubmed",
                                   "--base-url", "http://127.0.0.1:9/", "--max", "1"])
    assert res.exit_code == 1  # nothing listens on port 9: the source failed
    assert "SECRET-KEY-123" not in res.output
