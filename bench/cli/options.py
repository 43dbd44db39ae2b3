"""What every verb of the command line shares: exit codes, the one-line-error parser, and the parsing of
option values that several verbs take."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

OK, FAILED, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130
KINDS = ("models", "noises", "datasets", "families", "reporters")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``bench: error: ... (see 'bench run --help')``."""

    def error(self, message: str) -> NoReturn:
        if message == "argument --families: expected one argument":  # a value that starts with '-' looks like an option
            message += "; to leave a family out write it with '=': --families=-downstream"
        print(f"bench: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def parse_ints(text: str, option: str, *, low: int, high: int | None = None) -> list[int]:
    from registry import ParameterError

    allowed = f"integers >= {low}" if high is None else f"integers from {low} to {high}"
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ParameterError(f"{option} takes {allowed} separated by commas. Got {text!r} instead.") from None
    bad = [v for v in values if v < low or (high is not None and v > high)]
    if bad:
        raise ParameterError(f"{option} takes {allowed}. Got {bad[0]} in {text!r}.")
    return list(dict.fromkeys(values))


def open_store_of(args: argparse.Namespace, out: Path, *, must_exist: bool = False):
    """The store ``--store`` names, else the one in the output directory ``out``."""
    from bench.store import open_store

    return open_store(Path(args.store) if args.store else out, must_exist=must_exist)


def parse_formats(text: str) -> tuple[str, ...]:
    """``--format``: names of installed reporters (``all``, comma lists and wildcards as for models), checked:
    an unknown one, or one whose extra is missing, is one line and exit 2."""
    from registry import SelectionError, load_registry, select

    try:
        chosen = tuple(select(text, list(load_registry().entries["reporters"]), "report format"))
    except SelectionError as exc:
        raise SelectionError(f"--format: {exc}") from None
    return chosen


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """Options the reporters read (:class:`registry.ReporterSpec` ``options``)."""
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="--format mlflow: the tracking server (http://HOST:PORT) or store (file:DIR, "
                             "sqlite:///FILE) (default: $MLFLOW_TRACKING_URI, else MLflow's default)")
    parser.add_argument("--experiment", metavar="NAME", help="--format mlflow: the experiment (default: bench)")


def report_options_of(args: argparse.Namespace, formats: tuple[str, ...]) -> dict:
    """The reporters' options from the command line, checked with the reporters (an extra that is missing, a
    server that does not answer): one line and exit 2 before any work."""
    from bench.api import report_options
    from reports import check_reporters

    options = report_options(args.tracking_uri, args.experiment)
    check_reporters(formats, options)
    return options


def add_out_store(parser: argparse.ArgumentParser, *, out_help: str = "output directory (default: ./bench-out)",
                  store_help: str = "results store to use (default: DIR/results.db)") -> None:
    parser.add_argument("--out", default="bench-out", metavar="DIR", help=out_help)
    parser.add_argument("--store", metavar="FILE", help=store_help)


def add_datasets_profile(parser: argparse.ArgumentParser, *, profile_help: str = "(default: quick)") -> None:
    parser.add_argument("--datasets", default="fashion_mnist", metavar="SEL",
                        help="datasets, optionally with parameters: stripes:noise=0.1 (default: fashion_mnist)")
    parser.add_argument("--profile", default="quick", metavar="quick|paper", help=profile_help)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress output")
