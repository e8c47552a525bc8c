"""Output helpers shared by commands: JSON vs text, progress bars that respect --quiet/--json."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from tqdm import tqdm


def emit(ctx_obj: Any, data: Any, text: str | None = None) -> None:
    """Print ``data`` as JSON under ``--json``, else ``text`` (unless ``--quiet``)."""
    if ctx_obj.json:
        click.echo(json.dumps(data, indent=2, default=str, sort_keys=False))
    elif text is not None and not ctx_obj.quiet:
        click.echo(text)


def progress_bar(ctx_obj: Any, total: int | None, desc: str) -> tqdm:
    """A progress bar on stderr, silent under ``--quiet`` / ``--json``."""
    return tqdm(total=total, desc=desc, unit="rec", file=sys.stderr,
                disable=ctx_obj.quiet or ctx_obj.json, dynamic_ncols=True)
