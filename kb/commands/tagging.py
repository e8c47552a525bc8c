"""``kb train``, ``kb tag`` (and ``kb tag set``), ``kb classify`` and ``kb evaluate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click

from kb.commands.output import emit, progress_bar

MODEL_OPTION_HELP = ("Model directory (default: paths.model_dir, else the model shipped with "
                     "the package).")


def _model_dir(obj: Any, explicit: Path | None) -> str | None:
    return str(explicit) if explicit else (obj.config["paths.model_dir"] or None)


def _load_model(obj: Any, explicit: Path | None) -> Any:
    from kb.tagging.service import load_model

    try:
        return load_model(_model_dir(obj, explicit))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


# ---- kb train ------------------------------------------------------------------------------
@click.command("train")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write model.joblib + model.json (default: paths.model_dir, else "
                   "<data_dir>/model).")
@click.option("--gold", "gold_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled JSONL (TAXONOMY.md format); repeatable (default: the gold set "
                   "shipped with the package).")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Corpus records directory for weak labels (default: $KB_CORPUS_DIR or "
                   "../shared/corpus/records).")
@click.option("--no-weak", is_flag=True, help="Train on gold (and human) labels only.")
@click.option("--no-human", is_flag=True,
              help="Leave out the human corrections stored in the knowledge base.")
@click.option("--cv", "cv_folds", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Cross-validation folds over the gold records (0: skip).")
@click.option("--seed", type=int, default=0, show_default=True, help="Fold and model seed.")
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads fitting labels in parallel.")
@click.pass_obj
def train_cmd(obj: Any, output: Path | None, gold_files: tuple[Path, ...], corpus: Path | None,
              no_weak: bool, no_human: bool, cv_folds: int, seed: int, jobs: int) -> None:
    """Train the tagger, write the versioned model and its metadata, print CV metrics.

    Training data: the gold labels, weak labels from the corpus metadata (publication types;
    records that never name ketamine), and the human corrections in the knowledge base.
    Cross-validated figures test each gold record with a model that never saw it, from its
    title and abstract alone; the keyword baseline is shown beside them.
    """
    from kb.tagging import train as tr
    from kb.tagging.evaluate import format_summary
    from kb.tagging.model import TaggerModel
    from kb.tagging.service import human_examples

    try:
        gold = [e for path in (gold_files or (tr.PACKAGE_GOLD,)) for e in tr.load_gold(path)]
        weak: list[tr.Example] = []
        if not no_weak:
            corpus_dir = tr.find_corpus_dir(corpus)
            if corpus_dir is None:
                raise click.UsageError(
                    "corpus for weak labels not found (looked for --corpus, $KB_CORPUS_DIR, "
                    "../shared/corpus/records): pass --corpus DIR or --no-weak")
            weak = tr.load_weak(corpus_dir, exclude=[e.doc for e in gold], seed=seed)
    except tr.TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    human = [] if no_human else human_examples(obj.engine())
    extra = weak + human

    def make() -> TaggerModel:
        return TaggerModel(random_state=seed, n_jobs=jobs)

    if not obj.quiet and not obj.json:
        click.echo(f"training data: {len(gold)} gold, {len(weak)} weak, {len(human)} human "
                   "examples", err=True)
    cv_info: dict[str, Any] | None = None
    if cv_folds:
        with progress_bar(obj, cv_folds, "cross-validation") as bar:
            def fold_done(_done: int, _k: int) -> None:
                bar.update(1)

            res = tr.cross_validate(gold, extra, k=cv_folds, seed=seed, make_model=make,
                                    progress=fold_done)
        cv_info = cv_metrics_for_metadata(res)
        if not obj.json and not obj.quiet:
            click.echo(f"{cv_folds}-fold cross-validation on {len(gold)} gold records "
                       f"({res.seconds:.0f} s):")
            click.echo(format_summary({"model (text)": res.text_only,
                                       "model+meta": res.with_metadata,
                                       "baseline": res.baseline}))
    model = tr.train(gold + extra, cv_metrics=cv_info, model=make())
    out_dir = output or Path(obj.config["paths.model_dir"] or obj.config.data_dir / "model")
    model.save(out_dir)
    size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    emit(obj, {"model_version": model.version, "output": str(out_dir), "bytes": size,
               "fit_seconds": model.metadata.get("fit_seconds"), "cv_metrics": cv_info},
         f"model {model.version} written to {out_dir} ({size / 1e6:.1f} MB, fit "
         f"{model.metadata.get('fit_seconds')} s); tag with it: kb tag --model {out_dir} "
         "(or set paths.model_dir)")


def cv_metrics_for_metadata(res: Any) -> dict[str, Any]:
    """Cross-validated figures as stored in ``model.json``."""
    def facets(report: dict[str, Any]) -> dict[str, Any]:
        return {name: {k: v for k, v in entry.items() if k != "labels"}
                for name, entry in report["facets"].items()}

    return {**res.summary(), "seconds": res.seconds,
            "text_only_facets": facets(res.text_only),
            "per_label_f1": {name: {lab: round(m["f1"], 3) for lab, m in entry["labels"].items()}
                             for name, entry in res.text_only["facets"].items()}}


# ---- kb tag / kb tag set -------------------------------------------------------------------
@click.group("tag", invoke_without_command=True)
@click.option("--model", "model_path", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=MODEL_OPTION_HELP)
@click.option("--all", "retag", is_flag=True,
              help="Re-tag every record, not only untagged or older-model ones.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Tag at most N records.")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=1000, show_default=True)
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes classifying while this one writes.")
@click.pass_context
def tag_group(ctx: click.Context, model_path: Path | None, retag: bool, limit: int | None,
              batch_size: int, jobs: int) -> None:
    """Tag every record that is untagged or was tagged by an older model.

    Metadata tags (MeSH, publication types, registry fields) and model tags are replaced;
    human corrections (`kb tag set`, the dashboard) are kept and win.
    """
    if ctx.invoked_subcommand is not None:
        return
    from kb import repository
    from kb.tagging.service import tag_pending

    obj = ctx.obj
    model = _load_model(obj, model_path)
    engine = obj.engine()
    total = repository.count_to_tag(engine, model.version) if not retag else None
    if limit is not None and total is not None:
        total = min(total, limit)
    with progress_bar(obj, total, "tag") as bar:
        def batch_done(n: int) -> None:
            bar.update(n)

        report = tag_pending(engine, model=model, batch_size=batch_size, retag=retag,
                             limit=limit, jobs=jobs, progress=batch_done)
    rate = f", {report.tagged / report.seconds:.0f} records/s" if report.seconds else ""
    emit(obj, report.as_dict(),
         f"tagged {report.tagged} records with {report.model_version} "
         f"({report.seconds:.1f} s{rate})"
         + (f"; {report.remaining} left (--limit)" if report.remaining else ""))


@tag_group.command("set")
@click.argument("record")
@click.argument("facet")
@click.argument("labels", nargs=-1, required=True)
@click.option("--remove", is_flag=True,
              help="Mark LABELS as not applying (multi-label facets) instead of setting them.")
@click.option("--user", default=None, help="Who made the correction (default: $USER).")
@click.pass_obj
def tag_set_cmd(obj: Any, record: str, facet: str, labels: tuple[str, ...], remove: bool,
                user: str | None) -> None:
    """A human correction: FACET of RECORD becomes LABEL... (or loses them with --remove).

    RECORD is a key (pmid:31166571, doi:10..., nct:NCT...), id:N for the numeric id, or bare
    digits (a PMID, else the numeric id). The correction wins over metadata and model tags,
    survives re-tagging and is used by the next `kb train`.
    """
    from kb.tagging.service import RecordNotFound, set_tags
    from kb.taxonomy import TaxonomyError

    try:
        labels_after = set_tags(obj.engine(), record, facet, labels, remove=remove, user=user)
    except (TaxonomyError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    except RecordNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    value = labels_after.get(facet)
    shown = ", ".join(value) if isinstance(value, list) else str(value)
    emit(obj, {"record": record, "facet": facet, "labels": labels_after},
         f"{record} {facet}: {shown or '(none)'}")


# ---- kb classify ---------------------------------------------------------------------------
def _open_in(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def _open_out(path: str) -> IO[str]:
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def read_input_records(fh: IO[str], name: str) -> list[dict[str, Any]]:
    """JSONL records with at least ``id``, ``title``, ``abstract`` (usage error otherwise)."""
    records = []
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"{name}:{n}: not JSON ({exc.msg})") from exc
        if not isinstance(rec, dict):
            raise click.UsageError(f"{name}:{n}: a JSON object expected")
        missing = [k for k in ("id", "title", "abstract") if k not in rec]
        if missing:
            raise click.UsageError(f"{name}:{n}: missing {', '.join(missing)}")
        records.append(rec)
    return records


@click.command("classify")
@click.option("--input", "-i", "input_path", required=True,
              help="JSONL records (id, title, abstract; optionally mesh, publication_types, "
                   "keywords); - for stdin.")
@click.option("--output", "-o", "output_path", required=True, help="JSONL output; - for stdout.")
@click.option("--model", "model_path", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=MODEL_OPTION_HELP)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes.")
@click.pass_obj
def classify_cmd(obj: Any, input_path: str, output_path: str, model_path: Path | None,
                 batch_size: int, jobs: int) -> None:
    """Classify records without a database.

    Each output line: {"id", "labels": {facet: label or [labels]}, "scores": {facet: {label:
    probability}}} with every facet present; labels combine the record's metadata with the
    model.
    """
    from kb.tagging.service import classify_many

    if input_path != "-" and not Path(input_path).is_file():
        raise click.UsageError(f"no such file: {input_path}")
    with _open_in(input_path) as fh:
        records = read_input_records(fh, input_path)
    model = _load_model(obj, model_path)
    out = _open_out(output_path)
    try:
        for line in classify_many(model, records, jobs=jobs, chunk=batch_size):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if output_path != "-" and not obj.quiet:
        emit(obj, {"records": len(records), "output": output_path,
                   "model_version": model.version},
             f"classified {len(records)} records with {model.version} -> {output_path}")


# ---- kb evaluate ---------------------------------------------------------------------------
@click.command("evaluate")
@click.option("--gold", "gold_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled JSONL in the format of TAXONOMY.md.")
@click.option("--json", "as_json", is_flag=True, help="The full report as JSON.")
@click.option("--model", "model_path", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=MODEL_OPTION_HELP)
@click.option("--with-metadata", is_flag=True,
              help="Also use the metadata the file carries (publication types, MeSH), "
                   "combined as `kb tag` does. Default: title and abstract only.")
@click.option("--cv", "cv_folds", type=click.IntRange(0, 20), default=0,
              help="Instead of the current model: K-fold cross-validation with FILE as the "
                   "gold set (plus weak labels when the corpus is found).")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Corpus records directory for weak labels (--cv).")
@click.option("--no-weak", is_flag=True, help="Cross-validate without weak labels (--cv).")
@click.option("--seed", type=int, default=0, show_default=True, help="Fold seed (--cv).")
@click.pass_obj
def evaluate_cmd(obj: Any, gold_path: Path, as_json: bool, model_path: Path | None,
                 with_metadata: bool, cv_folds: int, corpus: Path | None, no_weak: bool,
                 seed: int) -> None:
    """Per-facet micro/macro-F1, per-label precision/recall/F1/support, accuracy of the
    single-label facets and RCT-vs-rest ROC AUC of the model, beside the keyword baseline.

    Each record is classified from its title and abstract alone; its gold labels are never
    shown to the model. Records the model was trained on make the figures optimistic: a
    warning says so, and --cv K gives the honest cross-validated figures.
    """
    from kb.tagging import train as tr
    from kb.tagging.baseline import baseline_predict
    from kb.tagging.combine import combine_labels
    from kb.tagging.evaluate import BARS, evaluate, format_report, format_summary
    from kb.tagging.metadata import confident_metadata_labels

    as_json = as_json or obj.json
    try:
        gold = tr.load_gold(gold_path)
    except tr.TrainingDataError as exc:
        raise click.UsageError(str(exc)) from exc
    if not gold:
        raise click.UsageError(f"{gold_path}: no labelled records")
    truth = [e.targets for e in gold]
    base = [baseline_predict(e.doc.text_only()) for e in gold]
    baseline_report = evaluate(truth, [b[0] for b in base], [b[1] for b in base])
    result: dict[str, Any] = {"gold": str(gold_path), "n": len(gold),
                              "bars": {k: v[1] for k, v in BARS.items()},
                              "baseline": baseline_report}
    warnings: list[str] = []
    if cv_folds:
        corpus_dir = None if no_weak else tr.find_corpus_dir(corpus)
        weak = (tr.load_weak(corpus_dir, exclude=[e.doc for e in gold], seed=seed)
                if corpus_dir else [])
        if corpus_dir is None and not no_weak:
            warnings.append("corpus not found: cross-validation without weak labels "
                            "(--corpus DIR)")
        res = tr.cross_validate(gold, weak, k=cv_folds, seed=seed)
        model_report = res.with_metadata if with_metadata else res.text_only
        result.update({"mode": f"{cv_folds}-fold cross-validation", "model": model_report,
                       "text_only": res.text_only, "with_metadata": res.with_metadata})
        reports = {"cv text": res.text_only, "cv +meta": res.with_metadata,
                   "baseline": baseline_report}
    else:
        model = _load_model(obj, model_path)
        docs = [e.doc if with_metadata else e.doc.text_only() for e in gold]
        labels, scores = model.predict(docs)
        if with_metadata:
            labels = [combine_labels(lab, sc, confident_metadata_labels(tr._as_record(e.doc)))
                      for lab, sc, e in zip(labels, scores, gold, strict=True)]
        model_report = evaluate(truth, labels, scores)
        overlap = tr.overlap_with_training(model, [e.doc for e in gold])
        result.update({"mode": "text and metadata" if with_metadata else "text only",
                       "model_version": model.version, "model": model_report,
                       "overlap_with_training": len(overlap)})
        if overlap:
            warnings.append(
                f"{len(overlap)} of {len(gold)} records in {gold_path} were used to train "
                f"{model.version}: these figures are optimistic (the model has seen them). "
                "Honest figures: the cross-validated metrics in model.json (below), or "
                f"`kb evaluate --gold {gold_path} --cv 5`, or `kb train --cv 5`.")
            cv = model.metadata.get("cv_metrics")
            if cv:
                result["model_cv_metrics"] = cv
        reports = {"model": model_report, "baseline": baseline_report}
    result["warnings"] = warnings
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(f"{gold_path}: {len(gold)} records, {result['mode']}")
    click.echo(format_summary(reports))
    cv = result.get("model_cv_metrics")
    if cv:
        click.echo(f"\ncross-validated ({cv['folds']}-fold, from model.json), text only: "
                   + ", ".join(f"{k} {v:.3f}" for k, v in cv["text_only"].items()
                               if v is not None))
    click.echo("")
    click.echo(format_report(model_report))


def register(group: click.Group) -> None:
    group.add_command(train_cmd)
    group.add_command(tag_group)
    group.add_command(classify_cmd)
    group.add_command(evaluate_cmd)
