"""The ``phrasecheck`` command line: a thin layer over the library.

typer gives typed options, ``--help`` for free and shell completion; rich draws the
progress bar, tables and highlighted findings (and degrades to plain text off a terminal).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ._version import __version__

app = typer.Typer(
    name="phrasecheck",
    help="Check Chinese service conversations for courtesy compliance (服务用语质检).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
lexicon_app = typer.Typer(help="Work with lexicon files.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
review_app = typer.Typer(help="The QA review loop: merge reviewers' verdicts (确认/误报/待定) "
                              "into a scored run, and what they say about the detectors.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")

#: Exit codes: done; a conversation scored below --fail-under; a usage error (bad option,
#: policy, lexicon or model, missing input); no input could be read at all; the outputs
#: could not be written (disk full, read-only folder, --out is a file); interrupted.
EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_NOTHING_READ, EXIT_OUTPUT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _usage_error(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    from rich.markup import escape

    from ._unicode import scrub

    # the message quotes paths and file contents: never read as markup
    _console(stderr=True).print(f"[bold red]error:[/] {escape(scrub(message))}",
                                soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"phrasecheck {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """phrasecheck: courtesy-compliance QA for Chinese service conversations."""


def _analyzer(policy: str, lexicon: list[Path] | None, no_default_lexicon: bool,
              model: str | None) -> Any:
    from .analyzer import Analyzer
    from .errors import LexiconError, ModelError, PolicyError

    try:
        analyzer = Analyzer(policy=_policy_ref(policy),
                            lexicons=[str(p) for p in lexicon or []],
                            default_lexicon=not no_default_lexicon, model=_model_ref(model))
        if model not in (None, "default", "none"):
            analyzer.model  # noqa: B018 - a bad --model path is a usage error, not a crash later
    except (PolicyError, LexiconError, ModelError, FileNotFoundError) as exc:
        raise _usage_error(str(exc)) from None
    return analyzer


def _policy_ref(policy: str) -> str:
    return str(Path(policy)) if os.path.sep in policy or policy.endswith(
        (".yaml", ".yml", ".toml")) else policy


def _model_ref(model: str | None) -> Any:
    if model is None or model == "default":
        return "default"
    if model == "none":
        return None
    return model


PolicyOpt = Annotated[str, typer.Option("--policy", "-p",
                                        help="Preset name (see `phrasecheck policies`) or a "
                                             "policy file.")]
LexiconOpt = Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045 (typer needs it)
    "--lexicon", "-l", help="Extra lexicon file or directory (repeatable).")]
NoDefaultLexOpt = Annotated[bool, typer.Option("--no-default-lexicon",
                                               help="Use only the --lexicon files.")]
ModelOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--model", help="Reply-tone model file; 'none' to switch the classifier off.")]


# --------------------------------------------------------------------------------- score


@app.command()
def score(
    inputs: Annotated[list[str], typer.Argument(
        help="Files, folders (recursive) or globs of transcripts (.txt .jsonl .json .csv "
             ".xlsx); '-' reads JSONL from stdin.")],
    policy: PolicyOpt = "default",
    lexicon: LexiconOpt = None,
    no_default_lexicon: NoDefaultLexOpt = False,
    model: ModelOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("report"),
    format: Annotated[str, typer.Option(
        "--format", "-f", help="Comma-separated: csv,xlsx,html,jsonl,parquet.")
    ] = "csv,xlsx,html",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (default: one "
                                                           "per core, none for inputs under "
                                                           "1 MB).")] = 0,
    redact: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--redact", metavar="KINDS",
        help="What every output masks besides phone, ID, bank-card numbers and e-mail "
             "addresses (always, unless --no-redact): names, addresses or all "
             "(comma-separated).")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Mask nothing.")] = False,
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of the reports and the summary: zh (default) or en; the "
                       "columns of csv/jsonl/parquet stay English keys.")] = "zh",
    fail_under: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--fail-under", help="Exit 1 if any conversation scores below this.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip conversations already "
                                                          "scored in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")
                     ] = False,
    encoding: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--encoding", help="Force the input encoding (default: detect).")] = None,
    agent_speaker: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--agent-speaker", help="Speaker label that is the agent in diarised transcripts "
                                "(overrides inference; repeatable).")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="local (default) or dask: score Parquet/CSV/JSONL turn datasets on a "
                         "Dask cluster and write Parquet.")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--scheduler", help="Dask scheduler address (default: a local cluster of --jobs "
                            "workers).")] = None,
    context: Annotated[int, typer.Option(
        "--context", min=0, help="Characters of the turn either side of a finding kept in "
                                 "its row.")] = 40,
    turns: Annotated[bool, typer.Option(
        "--turns", help="Also write every turn's whole text once, to turns.csv/.jsonl/"
                        ".parquet.")] = False,
    max_chars: Annotated[int, typer.Option(
        "--max-chars", min=1, help="Longest conversation (and line, cell) read, in "
                                   "characters; longer ones are listed in errors.")
    ] = 1_000_000,
    max_xlsx_mb: Annotated[int, typer.Option(
        "--max-xlsx-mb", min=1, help="Largest unpacked part of an xlsx workbook read, in "
                                     "MB.")] = 128,
    layout: Annotated[str, typer.Option(
        "--layout", help="How speakers are marked: auto (default: a transcript without any "
                         "speaker label is undiarised and roles are inferred), mono (always "
                         "infer roles) or labelled (every turn must carry a role or speaker).")
    ] = "auto",
) -> None:
    """Batch-score transcripts into scores, findings, errors and reports."""
    redaction = _redaction(redact, no_redact)
    lang = _lang(lang)
    from .readers import LAYOUTS

    if layout not in LAYOUTS:
        raise _usage_error(f"unknown layout {layout!r} (available: {', '.join(LAYOUTS)})")
    if engine not in ("local", "dask"):
        raise _usage_error(f"unknown engine {engine!r} (available: local, dask)")
    if engine == "dask":
        from .dask import run_cli

        ignored = [name for name, used in (
            ("--format", format != "csv,xlsx,html"), ("--encoding", encoding is not None),
            ("--agent-speaker", bool(agent_speaker)), ("--resume", resume),
            ("--layout", layout != "auto"),
            ("--redact names/addresses", redaction is not None and len(redaction.kinds) > 1),
            ("--lang", lang != "zh")) if used]
        if ignored:
            _console(stderr=True).print(
                f"[yellow]warning:[/] {', '.join(ignored)} ignored with --engine dask "
                "(it reads turn datasets and writes scores/findings Parquet)")

        raise typer.Exit(run_cli(
            inputs, out=out, scheduler=scheduler, jobs=jobs, policy=_policy_ref(policy),
            lexicons=[str(p) for p in lexicon or []], default_lexicon=not no_default_lexicon,
            model=_model_ref(model), redact=redaction is not None, fail_under=fail_under,
            quiet=quiet))
    from .batch import FORMATS, BatchConfig, auto_jobs, run_batch
    from .readers import expand_inputs, read_stream
    from .types import ReadError

    formats = [f.strip().lower() for f in format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise _usage_error(f"unknown format {', '.join(unknown) or '(none)'} "
                           f"(available: {', '.join(FORMATS)})")
    if "parquet" in formats:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise _usage_error("--format parquet needs pyarrow: pip install "
                               "'phrasecheck[parquet]'") from None
    analyzer = _analyzer(policy, lexicon, no_default_lexicon, model)
    stdin = "-" in inputs
    paths = [i for i in inputs if i != "-"]
    files, missing = expand_inputs(paths) if paths else ([], [])
    if missing:
        raise _usage_error("no such input: " + ", ".join(missing)
                           + _what_exists(missing[0]))
    if not files and not stdin:
        raise _usage_error("no transcript files found in " + ", ".join(paths))
    speaker_roles = {s: "agent" for s in agent_speaker or []}
    options: dict[str, Any] = {"encoding": encoding, "speaker_roles": speaker_roles or None,
                               "max_chars": max_chars, "max_xlsx_bytes": max_xlsx_mb * 2**20,
                               "layout": layout}
    stdin_errors: list[ReadError] = []

    def from_stdin() -> Any:  # after the files, as given
        if stdin:
            for item in read_stream(sys.stdin, name="<stdin>", format="jsonl", **options):
                if isinstance(item, ReadError):
                    stdin_errors.append(item)
                else:
                    yield item

    n_jobs = jobs if jobs > 0 else auto_jobs(files, stdin=stdin)
    config = BatchConfig(policy=_policy_ref(policy),
                         lexicons=tuple(str(p) for p in lexicon or []),
                         default_lexicon=not no_default_lexicon, model=_model_ref(model),
                         redact=redaction or False)
    if out.exists() and not out.is_dir():
        raise _usage_error(f"--out {out} is a file, not a folder", EXIT_OUTPUT)
    progress = _Progress(len(files), quiet)
    try:
        with progress:
            result = run_batch(from_stdin(), out, files=files, read_options=options,
                               config=config, formats=formats, jobs=n_jobs, resume=resume,
                               redact=redaction or False, fail_under=fail_under,
                               errors=lambda: stdin_errors, on_scored=progress.advance,
                               analyzer=analyzer, context=context, turns=turns, lang=lang)
    except OSError as exc:
        # the readers turn every input problem into an error row: what is left is writing
        where = exc.filename if exc.filename is not None else out
        raise _usage_error(f"cannot write the outputs in {out}: {exc.strerror or exc} "
                           f"({where}); nothing half-written is left, and --resume "
                           "continues from what was scored", EXIT_OUTPUT) from None
    except KeyboardInterrupt:
        raise _usage_error("interrupted; run the same command with --resume to continue",
                           EXIT_INTERRUPTED) from None
    if not quiet:
        _print_summary(result, analyzer, lang)
    if result.below:
        raise typer.Exit(EXIT_BELOW)
    if result.total == 0 and result.errors:
        if quiet:
            _console(stderr=True).print(
                f"[bold red]error:[/] no conversation could be read ({len(result.errors)} "
                "problem(s), listed in errors.*)", soft_wrap=True)
        raise typer.Exit(EXIT_NOTHING_READ)


def _redaction(kinds: str | None, none: bool) -> Any:
    """The Redactor of --redact/--no-redact (None: mask nothing)."""
    from .reports.redact import redactor

    if none:
        if kinds:
            raise _usage_error("--redact and --no-redact contradict each other")
        return None
    try:
        return redactor(kinds or True)
    except ValueError as exc:
        raise _usage_error(f"--redact: {exc}") from None


def _lang(lang: str) -> str:
    from .i18n import check_lang

    try:
        return check_lang(lang)
    except ValueError as exc:
        raise _usage_error(f"--lang: {exc}") from None


def _what_exists(missing: str) -> str:
    parent = Path(missing).parent if Path(missing).parent != Path("") else Path(".")
    if not parent.is_dir():
        return f" ({parent} does not exist either)"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in parent.iterdir()
                   if not p.name.startswith("."))[:20]
    return f"\n  {parent}/ contains: {', '.join(names) or '(nothing)'}"


class _Progress:
    """A rich progress bar on a terminal; a log line every few seconds otherwise."""

    def __init__(self, files: int, quiet: bool) -> None:
        self.files, self.quiet = files, quiet
        self.done = 0
        self.started = time.perf_counter()
        self.last_log = self.started
        self.bar: Any = None
        self.task: Any = None
        self.console = None if quiet else _console(stderr=True)  # rich: not for --quiet

    def __enter__(self) -> _Progress:
        if self.console is not None and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(),
                TextColumn("files · {task.fields[convs]} conversations · "
                           "{task.fields[rate]:.0f}/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("score", total=max(self.files, 1), convs=0, rate=0.0)
        return self

    def advance(self, scored: int, files_done: int) -> None:
        self.done += scored
        now = time.perf_counter()
        rate = self.done / max(now - self.started, 1e-9)
        if self.bar is not None:
            self.bar.update(self.task, completed=files_done, convs=self.done, rate=rate)
        elif self.console is not None and now - self.last_log >= 5:
            self.last_log = now
            self.console.print(f"scored {self.done} conversations ({rate:.0f}/s), "
                               f"{files_done}/{self.files} files done", soft_wrap=True)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=max(self.files, 1))
            self.bar.__exit__(*exc)


def _print_summary(result: Any, analyzer: Any, lang: str = "zh") -> None:
    from rich.table import Table

    from ._unicode import display_path
    from .i18n import grade_label, summary_label

    def L(key: str) -> str:
        return summary_label(key, lang)

    console = _console()
    t = Table(title=f"phrasecheck · {L('policy')} {analyzer.policy.name}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    mean = result.mean_score
    t.add_row(L("conversations scored"), f"{result.total}"
              + (f" ({result.resumed} {L('resumed')})" if result.resumed else ""))
    t.add_row(L("errors (files/lines not read)"), str(len(result.errors)))
    t.add_row(L("mean score"), "–" if mean is None else f"{mean:.1f}")
    t.add_row(L("grade"), "  ".join(f"{grade_label(g, lang)} {n}"
                                    for g, n in sorted(result.grades.items())))
    t.add_row(L("vetoed"), str(result.vetoed))
    top = result.violations.most_common(5)
    titles = {r.id: r.title for r in analyzer.policy.rules}
    t.add_row(L("most frequent violations"),
              "\n".join(f"{n:>4} × {rid} {titles.get(rid, '')}" for rid, n in top)
              or L("none"))
    t.add_row(L("time"), f"{result.seconds:.1f} s")
    console.print(t)
    if result.errors:
        console.print(f"[yellow]{L('input problems').format(n=len(result.errors))}[/]")
        for e in result.errors[:5]:
            console.print(f"  {e}", soft_wrap=True, markup=False)
    for p in result.outputs:
        console.print(f"{L('wrote')} {display_path(p)}", soft_wrap=True, markup=False)
    if result.below:
        console.print(f"[red]{L('below').format(n=len(result.below))}[/]")


# --------------------------------------------------------------------------------- check


@app.command()
def check(
    text: Annotated[str, typer.Argument(help="The message to check ('-' reads stdin).")],
    role: Annotated[str, typer.Option("--role", "-r", help="agent or customer.")] = "agent",
    policy: PolicyOpt = "default",
    lexicon: LexiconOpt = None,
    no_default_lexicon: NoDefaultLexOpt = False,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en; --json keeps "
                                                     "its English keys.")] = "zh",
    context: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--context", "-c", help="The customer turn the message answers (a very short reply "
                                "is judged with it).")] = None,
) -> None:
    """Check one message and print its findings with the phrases highlighted."""
    import json

    from rich.markup import escape
    from rich.text import Text

    from .i18n import value_label

    lang = _lang(lang)
    zh = lang == "zh"
    if text == "-":
        text = sys.stdin.read()
    analyzer = _analyzer(policy, lexicon, no_default_lexicon, model)
    findings = analyzer.check_text(text, role=role, context=context)
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=2))
        return
    console = _console()
    styled = Text(text)
    for f in findings:
        style = {"required": "bold green", "banned": "bold white on red"}.get(f.kind, "bold")
        if f.source == "classifier":
            style = "bold yellow"
        if f.source == "lexicon":
            styled.stylize(style, f.start, f.end)
    console.print(styled)
    if not findings:
        console.print("[dim]" + ("没有发现" if zh else "no findings") + "[/]")
    cats = analyzer.lexicon.categories
    for f in findings:
        colour = "green" if f.kind == "required" else "red"
        kind = value_label("kind", "classifier" if f.source == "classifier" else f.kind, lang)
        cat = cats.get(f.category)
        category = cat.title if zh and cat is not None and cat.title else f.category
        # what the person wrote is text, not markup ('不[/]知道' once crashed the CLI)
        console.print(f"[{colour}]{escape(kind):>8}[/] {escape(f.code):<12} "
                      f"\\[{f.start}:{f.end}] “{escape(f.text)}” {escape(category)}/"
                      f"{value_label('severity', f.severity, lang)}", soft_wrap=True)
        if f.suggestion:
            console.print(f"           {'建议改为' if zh else 'say instead'}: {f.suggestion}",
                          soft_wrap=True, markup=False)
        if f.basis and f.basis in analyzer.lexicon.bases:
            console.print(f"           {'依据' if zh else 'basis'}: "
                          f"{analyzer.lexicon.bases[f.basis]}", soft_wrap=True, style="dim")


# ------------------------------------------------------------------------------ policies


@app.command()
def policies() -> None:
    """List the policy presets."""
    from rich.table import Table

    from .policy import available_policies, load_policy

    t = Table(title="policy presets")
    for col in ("name", "title", "rules", "grades"):
        t.add_column(col)
    for name in available_policies():
        p = load_policy(name)
        t.add_row(name, p.title, ", ".join(p.rule_ids),
                  " / ".join(f"{g.name}≥{g.min:g}" for g in p.grades))
    _console().print(t)


@app.command()
def explain(
    rule_id: Annotated[str, typer.Argument(help="A rule id, e.g. greeting.")],
    policy: PolicyOpt = "default",
) -> None:
    """Explain what a rule checks, how it deducts, and the service-rule clause behind it."""
    from rich.markup import escape

    from .errors import PolicyError
    from .lexicon import load_lexicon
    from .policy import load_policy

    try:
        p = load_policy(_policy_ref(policy))
        rule = p.rule(rule_id)
    except PolicyError as exc:
        raise _usage_error(str(exc)) from None
    except KeyError as exc:
        raise _usage_error(str(exc.args[0])) from None
    console = _console()
    console.print(f"[bold]{escape(rule.id)}[/] — {escape(rule.title)}  ([dim]{rule.kind} "
                  f"rule, policy {escape(p.name)}, {escape(rule.where)}[/])", soft_wrap=True)
    for key, value in rule.spec.items():
        console.print(f"  {key}: {value}", soft_wrap=True, markup=False)
    ded = f"{rule.deduction:g} per {rule.per}" + (f", at most {rule.cap:g}" if rule.cap else "")
    console.print(f"  deduction: {ded}" + ("  [bold red]VETO (一票否决)[/]" if rule.veto else ""))
    if rule.description:
        console.print(f"  {rule.description}", soft_wrap=True, markup=False)
    if rule.basis:
        basis = load_lexicon().bases.get(rule.basis)
        console.print(f"  basis [{rule.basis}]: {basis if basis else '(unknown basis)'}",
                      soft_wrap=True, markup=False)


# ------------------------------------------------------------------------------- lexicon


@lexicon_app.command("lint")
def lexicon_lint(
    paths: Annotated[Optional[list[Path]], typer.Argument(  # noqa: UP045
        help="Lexicon files or folders (default: the bundled lexicons).")] = None,
) -> None:
    """Validate lexicon files: every problem with its file and line."""
    from .lexicon import lint_lexicon, load_lexicon

    issues = lint_lexicon(*(paths or []))
    console = _console()
    for i in issues:
        console.print(str(i), soft_wrap=True, markup=False)
    if issues:
        console.print(f"[red]{len(issues)} problem(s)[/]")
        raise typer.Exit(1)
    what = ", ".join(str(p) for p in paths) if paths else repr(load_lexicon())
    console.print(f"ok: {what}", soft_wrap=True, markup=False)


@lexicon_app.command("show")
def lexicon_show(
    category: Annotated[Optional[str], typer.Argument(help="Only this category.")] = None,  # noqa: UP045
    lexicon: LexiconOpt = None,
) -> None:
    """Print the loaded entries (phrase, category, severity, suggestion)."""
    from rich.table import Table

    from .lexicon import load_lexicon

    lex = load_lexicon(*(lexicon or []))
    t = Table()
    for col in ("code", "phrase", "category", "kind", "severity", "variants", "suggestion"):
        t.add_column(col)
    for e in lex:
        if category is None or e.category == category:
            t.add_row(e.code, e.phrase, e.category, e.kind, e.severity,
                      "、".join(e.variants[:4]) + ("…" if len(e.variants) > 4 else ""),
                      e.suggestion or "")
    _console().print(t)


# ---------------------------------------------------------------------------- classifier


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Labelled replies: CSV with text,label "
                                              "columns, or a folder of replies_*.csv.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write "
                                                                "(.json).")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    verdicts: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045
        "--verdicts", help="Review verdicts (csv/json/jsonl/xlsx) whose tone-model "
                           "findings become training rows: confirmed = that label, 误报 = ok "
                           "(repeatable).")] = None,
    scores: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--scores", help="The scored run the verdicts review (for the replies' full, "
                         "unmasked text).")] = None,
) -> None:
    """Train a reply-tone model on your own labelled replies (and reviewed ones)."""
    from .classify import train_model

    if not data.exists():
        raise _usage_error(f"no such file or folder: {data}" + _what_exists(str(data)))
    training: Any = data
    console = _console()
    if verdicts:
        from .classify.corpus import _as_frame
        from .review import read_verdicts
        from .review.training import merge_training, training_rows

        found, problems = read_verdicts(verdicts)
        for p in problems:
            console.print(f"[yellow]warning:[/] {p}", soft_wrap=True, highlight=False)
        try:
            rows = training_rows(found, scores)
        except FileNotFoundError as exc:
            raise _usage_error(str(exc)) from None
        training, added, replaced = merge_training(_as_frame(data), rows)
        console.print(f"{added} reviewed repl(ies) added to the training data"
                      + (f" ({replaced} earlier row(s) with the same text replaced)"
                         if replaced else ""), soft_wrap=True, markup=False)
    model = train_model(training, seed=seed)
    model.save(output)
    console.print(f"wrote {output}", soft_wrap=True, markup=False)


# -------------------------------------------------------------------------------- review


def _review_run(scores: Path) -> None:
    from .batch import WORK_DIR

    if not (scores / WORK_DIR / "records.jsonl").exists():
        raise _usage_error(f"--scores {scores}: not the output folder of a `phrasecheck "
                           "score` run (no .phrasecheck/records.jsonl)")


@review_app.command("apply")
def review_apply(
    verdicts: Annotated[list[Path], typer.Argument(
        help="Verdict files: exported from report.html (csv/json), the report.xlsx a "
             "reviewer filled in, or jsonl.")],
    scores: Annotated[Path, typer.Option("--scores", "-s",
                                         help="The output folder of the scored run.")],
    lang: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--lang", help="Language of the reports written again (default: the run's).")] = None,
    fail_under: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--fail-under", help="Pass line of the reports (default: the run's).")] = None,
) -> None:
    """Merge verdicts into a scored run: false alarms (误报) stop deducting, scores and
    grades are recomputed and the outputs written again, with the audit trail in
    review.csv; verdicts that match nothing are listed in review_unmatched.csv."""
    from rich.markup import escape

    from .i18n import grade_label
    from .review.apply import apply_to_run

    _review_run(scores)
    language = _lang(lang) if lang is not None else None
    try:
        result = apply_to_run(scores, verdicts, lang=language, fail_under=fail_under)
    except (FileNotFoundError, ValueError) as exc:
        raise _usage_error(str(exc)) from None
    except OSError as exc:
        raise _usage_error(f"cannot write the outputs in {scores}: {exc}", EXIT_OUTPUT) from None
    zh = (language or "zh") == "zh"
    console = _console()
    for p in result.problems:
        console.print(f"[yellow]{'无法读取' if zh else 'not read'}:[/] {escape(str(p))}",
                      soft_wrap=True)
    counts = "  ".join(f"{k} {n}" for k, n in sorted(result.counts.items()))
    console.print(
        (f"新合并 {result.added} 条（累计 {result.total} 条，生效 {result.in_force} 条；匹配 "
         f"{result.matched}，未匹配 {len(result.unmatched)}）{counts}") if zh else
        (f"{result.added} new verdict(s) merged ({result.total} in all, {result.in_force} in "
         f"force; {result.matched} matched, {len(result.unmatched)} unmatched) {counts}"),
        soft_wrap=True, markup=False)
    for cid, (s0, g0, s1, g1) in sorted(result.changed.items()):
        console.print(f"  {cid}: {s0:g} {grade_label(g0, language or 'zh')} → {s1:g} "
                      f"{grade_label(g1, language or 'zh')}", soft_wrap=True, markup=False)
    for v, why in result.unmatched[:10]:
        what = v.rule if v.target == "rule" else f"{v.code} @ {v.turn}:{v.start}-{v.end}"
        console.print(f"  [yellow]{'未匹配' if zh else 'unmatched'}:[/] "
                      f"{escape(v.conversation_id)} {escape(str(what))} ({escape(why)}; "
                      f"{escape(v.origin)})", soft_wrap=True)
    for path in result.outputs:
        console.print(f"{'已写入' if zh else 'wrote'} {path}", soft_wrap=True, markup=False)


@review_app.command("stats")
def review_stats_cmd(
    verdicts: Annotated[list[Path], typer.Argument(help="Verdict files (csv/json/jsonl/xlsx).")],
    scores: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--scores", "-s", help="A scored run whose merged verdicts count too.")] = None,
    lexicon: LexiconOpt = None,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", "-o", help="Folder for review_stats.csv and review_allow.csv (default: "
                            "--scores, else the current folder).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows of the most-dismissed "
                                                          "table.")] = 10,
) -> None:
    """Precision per rule, lexicon entry and tone label from the verdicts, the entries
    reviewers dismiss most, and suggested allow-list entries (with the context they were
    dismissed in): as tables here and as CSV files."""
    from rich.markup import escape
    from rich.table import Table

    from .batch import _write_table
    from .lexicon import load_lexicon
    from .review import read_verdicts
    from .review.apply import STORE, current
    from .review.stats import ALLOW_COLUMNS, STATS_COLUMNS, review_stats

    found, problems = read_verdicts(verdicts)
    console = _console()
    for p in problems:
        console.print(f"[yellow]warning:[/] {escape(str(p))}", soft_wrap=True)
    if scores is not None:
        from .batch import WORK_DIR
        from .review.apply import _load_store

        _review_run(scores)
        found = [*_load_store(scores / WORK_DIR / STORE), *found]
    lex = load_lexicon(*(lexicon or []))
    stats = review_stats(current(found).values(), {e.code: e.phrase for e in lex})

    def pct(p: float | None) -> str:
        return "–" if p is None else f"{100 * p:.0f}%"

    for title, rows in (("规则 (rule)", stats.rules), ("词条 (lexicon entry)", stats.entries),
                        ("语气标签 (tone label)", stats.tones)):
        if not rows:
            continue
        t = Table(title=f"精确率 precision · {title}")
        for col in ("key", "phrase", "确认", "误报", "待定", "precision"):
            t.add_column(col)
        for r in rows:
            t.add_row(escape(r.key), escape(r.phrase), str(r.counts["confirmed"]),
                      str(r.counts["false_positive"]), str(r.counts["pending"]),
                      pct(r.precision))
        console.print(t)
    worst = stats.most_dismissed[:top]
    if worst:
        t = Table(title="误报最多的词条 (dismissed most)")
        for col in ("key", "phrase", "误报", "precision"):
            t.add_column(col)
        for r in worst:
            t.add_row(escape(r.key), escape(r.phrase), str(r.counts["false_positive"]),
                      pct(r.precision))
        console.print(t)
    if stats.allow:
        t = Table(title="建议加入白名单 (suggested allow-list entries)")
        for col in ("code", "phrase", "allow", "误报", "example"):
            t.add_column(col)
        for a in stats.allow[:top]:
            t.add_row(escape(a["code"]), escape(a["phrase"]), escape(a["allow"]),
                      str(a["dismissed"]), escape(a["example"]))
        console.print(t)
    folder = out or scores or Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    rows_ = stats.rows()
    allow = stats.allow
    for path in (_write_table(folder / "review_stats", "csv", STATS_COLUMNS,
                              lambda: iter(rows_)),
                 _write_table(folder / "review_allow", "csv", ALLOW_COLUMNS,
                              lambda: iter(allow))):
        console.print(f"wrote {path}", soft_wrap=True, markup=False)


@app.command("eval")
def eval_(
    data: Annotated[Path, typer.Argument(help="Labelled replies (CSV with text,label).")],
    model: ModelOpt = None,
) -> None:
    """Evaluate a reply-tone model: per-class precision, recall, F1 and confusion matrix."""
    from .classify import default_model_path, evaluate_model, load_model

    if not data.exists():
        raise _usage_error(f"no such file or folder: {data}" + _what_exists(str(data)))
    path = default_model_path() if model in (None, "default") else Path(str(model))
    if path is None:
        raise _usage_error("no bundled model in this installation; pass --model PATH")
    report = evaluate_model(load_model(path), data)
    _console().print(str(report), markup=False)


# --------------------------------------------------------------------------------- serve


@app.command()
def serve(
    policy: PolicyOpt = "default",
    lexicon: LexiconOpt = None,
    no_default_lexicon: NoDefaultLexOpt = False,
    model: ModelOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every "
                                           "interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads its own "
                                                     "Analyzer; sessions live in one "
                                                     "worker unless their state travels "
                                                     "with the requests).")] = 1,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Largest request body (413 "
                                                            "beyond).")] = 1_048_576,
    max_text_chars: Annotated[int, typer.Option(min=1, help="Longest message text (422 "
                                                            "beyond).")] = 5_000,
    max_turns: Annotated[int, typer.Option(min=1, help="Most turns in a scored conversation "
                                                       "or a session.")] = 2_000,
    max_context_turns: Annotated[int, typer.Option(min=0, help="Most context turns sent "
                                                               "with /v1/check.")] = 50,
    max_sessions: Annotated[int, typer.Option(min=1, help="Most open sessions per worker "
                                                          "(429 beyond).")] = 10_000,
    session_ttl: Annotated[float, typer.Option(min=0.001, help="Seconds a session may stay "
                                                               "idle before it is "
                                                               "dropped.")] = 1_800.0,
    api_key_file: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="File of API keys, one per line (also: $PHRASECHECK_API_KEYS). With keys, "
             "every request but /healthz and /readyz needs one.")] = None,
    log_text: Annotated[bool, typer.Option("--log-text", help="Put message text in the "
                                                              "logs (off: never).")] = False,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or "
                                                "debug.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="Log one JSON line per request.")] = True,
    graceful_timeout: Annotated[float, typer.Option(min=0, help="Seconds in-flight requests "
                                                                "get to finish on "
                                                                "SIGTERM.")] = 30.0,
    http: Annotated[str, typer.Option(help="HTTP/1.1 parser: httptools (faster) or h11 (also "
                                           "reads requests that ask for an h2c upgrade, as "
                                           "Java's default HttpClient sends).")] = "httptools",
) -> None:
    """Serve checks, scores and live sessions over HTTP (needs the serve extra).

    The API is described at /docs and /openapi.json once it runs. Secrets come from the
    environment: $PHRASECHECK_API_KEYS, and $PHRASECHECK_STATE_KEY to sign exported session
    state (set the same on every instance that restores another's sessions).
    """
    try:
        from .serve import ServeConfig, run
        from .serve.config import load_api_keys
    except ImportError as exc:
        raise _usage_error(f"phrasecheck serve needs the serve extra ({exc.name} is not "
                           "installed): pip install 'phrasecheck[serve]'") from None
    from .errors import PolicyError
    from .policy import load_policy

    try:  # fail here, with a usage error, not in every worker
        load_policy(_policy_ref(policy))
    except PolicyError as exc:
        raise _usage_error(str(exc)) from None
    for p in lexicon or []:
        if not p.exists():
            raise _usage_error(f"no such lexicon file or folder: {p}" + _what_exists(str(p)))
    ref = _model_ref(model)
    if isinstance(ref, str) and ref != "default" and not Path(ref).exists():
        raise _usage_error(f"no such model file: {ref}" + _what_exists(ref))
    try:
        config = ServeConfig(
            policy=_policy_ref(policy), lexicons=tuple(str(p) for p in lexicon or []),
            default_lexicon=not no_default_lexicon, model=ref,
            max_body_bytes=max_body_bytes, max_text_chars=max_text_chars, max_turns=max_turns,
            max_context_turns=max_context_turns, max_sessions=max_sessions,
            session_ttl=session_ttl, api_key_file=str(api_key_file) if api_key_file else None,
            log_text=log_text, log_level=log_level.lower(), access_log=access_log)
        keys = load_api_keys(config)
    except (ValueError, OSError) as exc:
        raise _usage_error(str(exc)) from None
    if not keys and host not in ("127.0.0.1", "localhost", "::1"):
        _console(stderr=True).print(
            f"[yellow]warning:[/] listening on {host} without API keys: anyone who can reach "
            "the port can use the service (set $PHRASECHECK_API_KEYS or --api-key-file)",
            soft_wrap=True)
    from .serve import HTTP_PARSERS

    if http not in HTTP_PARSERS:
        raise _usage_error(f"unknown --http {http!r} (available: {', '.join(HTTP_PARSERS)})")
    run(config, host=host, port=port, workers=workers, graceful_timeout=graceful_timeout,
        http=http)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
