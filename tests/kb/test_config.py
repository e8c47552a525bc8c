from pathlib import Path

import pytest

from kb.config import SETTINGS, ConfigError, load_config, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_default_file_env_cli(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[pubmed]\nbatch_size = 300\nquery = "from-file"\n'
                        '[database]\nurl = "sqlite:///file.sqlite"\n')
    env = {"KB_PUBMED_BATCH_SIZE": "400", "KB_DATABASE_URL": "sqlite:///env.sqlite"}
    cfg = load_config(cfg_file, env=env, overrides={"database.url": "sqlite:///cli.sqlite"})
    assert cfg["pubmed.query"] == "from-file"  # file beats default
    assert cfg["pubmed.batch_size"] == 400  # env beats file, coerced to int
    assert cfg.database_url == "sqlite:///cli.sqlite"  # CLI beats env
    assert cfg["pubmed.overlap_days"] == 1  # default
    assert cfg.sources["pubmed.batch_size"] == "KB_PUBMED_BATCH_SIZE"


def test_unknown_setting_and_bad_type_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[pubmed]\nbatchsize = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'pubmed\.batchsize'"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match=r"pubmed\.batch_size: cannot read 'x' as int"):
        load_config(None, env={"KB_PUBMED_BATCH_SIZE": "x", "KB_CONFIG": "/nonexistent"})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml", env={})


def test_list_setting_from_env() -> None:
    env = {"KB_HARVEST_SOURCES": "pubmed, ctgov", "KB_CONFIG": "/nonexistent"}
    cfg = load_config(None, env=env)
    assert cfg["harvest.sources"] == ["pubmed", "ctgov"]


def test_secrets_only_from_env_and_never_in_repr() -> None:
    cfg = load_config(None, env={"NCBI_API_KEY": "s3cr3t-key", "NCBI_EMAIL": "a@b.org",
                                 "KB_CONFIG": "/nonexistent"})
    assert cfg.ncbi_api_key == "s3cr3t-key"
    assert cfg.ncbi_email == "a@b.org"
    assert "s3cr3t" not in repr(cfg)
    assert all("api_key" not in s.name for s in SETTINGS)


def test_shipped_config_file_is_valid() -> None:
    cfg = load_config(ROOT / "config.toml", env={})
    assert cfg.database_url == "sqlite:///data/kb.sqlite"


def test_every_setting_documented_and_reference_up_to_date() -> None:
    for s in SETTINGS:
        assert s.help.strip(), s.name
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == reference_markdown(), "regenerate: python -m kb.config > docs/configuration.md"
