"""`python -m benchmarks --datasets small,medium --runs 3 --contenders all --concurrency 8`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.child import CONTENDERS
from benchmarks.harness import DATASETS, run_dataset, validate_contenders
from benchmarks.report import markdown, summarize, write_json

RESULTS_DIR = Path(__file__).parent / "results"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark this pipeline against floors, a naive script and dlt.",
    )
    parser.add_argument(
        "--datasets", default="small", help=f"comma-separated, of {', '.join(DATASETS)}"
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per contender")
    parser.add_argument(
        "--contenders", default="all", help=f"'all' or comma-separated, of {', '.join(CONTENDERS)}"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel requests")
    parser.add_argument("--port", type=int, default=0, help="the sandbox's port; 0 picks one")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a contender run fails"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="JSON goes here")
    parser.add_argument("--work-dir", type=Path, help="scratch space (default: a temp dir)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on each dataset; print its table and write its JSON."""
    args = build_parser().parse_args(argv)
    contenders = validate_contenders(args.contenders.split(","))
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="qc-bench-"))
    for dataset in args.datasets.split(","):
        result = run_dataset(
            dataset, contenders, args.runs, args.concurrency, work_dir, args.port, args.timeout
        )
        rows = summarize(result)
        path = write_json(result, rows, args.results_dir)
        print(
            f"\n{markdown(result, rows)}\n\n{dataset} took {result.bench_seconds:.0f} s; {path}\n"
        )


if __name__ == "__main__":
    main()
