"""Settings, declared once: defaults < ``config.toml`` < ``KB_*`` environment < CLI flags.

Every setting lives in ``SETTINGS`` with its type, default and help text; the configuration
reference in ``docs/configuration.md`` is generated from it (``python -m kb.config``).
Secrets (``NCBI_API_KEY``) are read from the environment only and never printed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "KB_CONFIG"
DEFAULT_CONFIG_FILE = "config.toml"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its dotted name (``section.key``), type, default and help."""

    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "KB_" + self.name.replace(".", "_").upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("database.url", str, "sqlite:///data/kb.sqlite",
            "SQLAlchemy URL of the knowledge base (SQLite file, or postgresql+psycopg://...)."),
    Setting("paths.data_dir", str, "data", "Where run state, quarantine and digests are written."),
    Setting("paths.model_dir", str, "",
            "Directory of a trained tagging model; empty uses the model shipped with the package."),
    Setting("pubmed.base_url", str, "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
            "E-utilities base URL (any E-utilities-compatible server)."),
    Setting("pubmed.query", str,
            "ketamine[tiab] OR esketamine[tiab] OR arketamine[tiab] OR ketamine[mh]",
            "PubMed query harvested by `kb harvest pubmed`."),
    Setting("pubmed.batch_size", int, 200, "PMIDs per efetch POST (at most 500)."),
    Setting("pubmed.rate", float, 0.0,
            "Requests per second; 0 means the NCBI limit (3/s, or 10/s with NCBI_API_KEY)."),
    Setting("pubmed.email", str, "", "Contact e-mail sent to NCBI (NCBI_EMAIL in the environment "
            "wins)."),
    Setting("pubmed.tool", str, "ketamine-kb", "Tool name sent to NCBI."),
    Setting("pubmed.overlap_days", int, 1, "Days of overlap between incremental windows."),
    Setting("pubmed.start_date", str, "1960-01-01",
            "Earliest date harvested by a first run without --since."),
    Setting("europepmc.base_url", str, "https://www.ebi.ac.uk/europepmc/webservices/rest/",
            "Europe PMC REST base URL."),
    Setting("europepmc.query", str,
            '(ketamine OR esketamine OR arketamine)',
            "Europe PMC query harvested by `kb harvest europepmc`."),
    Setting("europepmc.page_size", int, 500, "Results per page (at most 1000)."),
    Setting("europepmc.rate", float, 5.0, "Requests per second."),
    Setting("ctgov.base_url", str, "https://clinicaltrials.gov/api/v2/",
            "ClinicalTrials.gov API v2 base URL."),
    Setting("ctgov.query", str, "ketamine OR esketamine OR arketamine",
            "Intervention query harvested by `kb harvest ctgov`."),
    Setting("ctgov.page_size", int, 200, "Studies per page (at most 1000)."),
    Setting("ctgov.rate", float, 1.0, "Requests per second."),
    Setting("harvest.sources", list, ["pubmed", "europepmc", "ctgov"],
            "Sources harvested by `kb harvest all` and `kb run`."),
    Setting("harvest.timeout", float, 30.0, "HTTP timeout in seconds."),
    Setting("harvest.retries", int, 5, "Attempts per request before giving up."),
    Setting("dashboard.port", int, 8501, "Port of `kb serve`."),
    Setting("dashboard.page_size", int, 25, "Records per page in the evidence browser."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any) -> Any:
    if setting.type is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return list(value)
    if setting.type is bool and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    try:
        return setting.type(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{setting.name}: cannot read {value!r} as {setting.type.__name__}") from exc


class ConfigError(ValueError):
    """A setting is unknown or has a value of the wrong type."""


@dataclass(slots=True)
class Config:
    """Resolved settings plus the secrets read from the environment."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    ncbi_api_key: str | None = None
    ncbi_email: str | None = None
    config_file: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def database_url(self) -> str:
        return str(self.values["database.url"])

    @property
    def data_dir(self) -> Path:
        return Path(self.values["paths.data_dir"])

    def __repr__(self) -> str:  # never show secrets
        key = "set" if self.ncbi_api_key else "unset"
        return f"Config(file={self.config_file}, ncbi_api_key={key}, values={self.values!r})"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping) and name not in _BY_NAME:
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Resolve settings: defaults < config file < ``KB_*`` environment < ``overrides``."""
    env = os.environ if env is None else env
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    file = Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    config_file: Path | None = None
    if file.is_file():
        config_file = file
        with file.open("rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{file}: {exc}") from exc
        for name, value in _flatten(data).items():
            if name not in _BY_NAME:
                raise ConfigError(f"{file}: unknown setting {name!r}")
            values[name] = _coerce(_BY_NAME[name], value)
            sources[name] = str(file)
    elif path is not None:
        raise ConfigError(f"config file not found: {file}")
    for s in SETTINGS:
        if s.env in env:
            values[s.name] = _coerce(s, env[s.env])
            sources[s.name] = s.env
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(_BY_NAME[name], value)
        sources[name] = "command line"
    email = env.get("NCBI_EMAIL") or values["pubmed.email"] or None
    return Config(values=values, sources=sources, ncbi_api_key=env.get("NCBI_API_KEY") or None,
                  ncbi_email=email, config_file=config_file)


def reference_markdown() -> str:
    """The configuration reference, generated from ``SETTINGS``."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `kb/config.py` by `python -m kb.config > docs/configuration.md`.",
        "Precedence: built-in default < `config.toml` (or the file in `KB_CONFIG`) < `KB_*`",
        "environment variable < command-line flag.",
        "",
        "Secrets come from the environment only: `NCBI_API_KEY` (raises the PubMed rate limit",
        "to 10 requests/s) and `NCBI_EMAIL`. They are never written to logs or output.",
        "",
        "| setting | environment | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = ", ".join(s.default) if isinstance(s.default, list) else s.default
        lines.append(f"| `{s.name}` | `{s.env}` | {s.type.__name__} | `{default}` | {s.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
