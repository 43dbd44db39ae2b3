"""The ``bench`` command line: one module per verb (run, listing, report, plugins, inference), the options
they share in :mod:`bench.cli.options`. Only the command line and the Python API import ``reports``.

Exit codes: ``OK = 0``; ``FAILED = 1`` (some cells failed; their reasons are in the leaderboard);
``USAGE_ERROR = 2`` (bad input: one line on stderr, nothing computed is lost); ``INTERRUPTED = 130``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import inference, listing, plugins, report, run
from .options import FAILED, INTERRUPTED, OK, USAGE_ERROR, Parser

__all__ = ["FAILED", "INTERRUPTED", "OK", "USAGE_ERROR", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from bench.version import __version__

    parser = Parser(prog="bench", description="Benchmark autoencoders on limited, noisy data.")
    parser.add_argument("--version", action="version", version=f"bench {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    run.add_parser(verbs)
    listing.add_parser(verbs)
    report.add_parsers(verbs)
    plugins.add_parser(verbs)
    inference.add_parsers(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["bench", *(sys.argv[1:] if argv is None else argv)]
    if args.verb is None:
        parser.print_help()
        return USAGE_ERROR
    from bench.said import say_warnings_in_bench_words
    from registry import BenchError

    say_warnings_in_bench_words()

    try:
        return args.func(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:  # before any cell started (a running grid handles its own)
        print("bench: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (bench show KEY | head): nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's recipe: no error at exit
        return OK


if __name__ == "__main__":
    sys.exit(main())
