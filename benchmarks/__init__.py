"""The benchmark suite: this pipeline against the floors, a naive script and dlt.

Run it
------
    make bench                                   # small and medium, 3 runs each
    make bench BENCH_ARGS="--datasets large --runs 3"
    .venv/bin/python -m benchmarks --datasets small,medium --runs 3 \\
        --contenders all --concurrency 8         # or --contenders pipeline,resync,dlt_tuned

It prints one markdown table per dataset and writes `benchmarks/results/<dataset>.json` (not
committed): the medians, every run's measurements and the machine and package versions.
`tests/test_benchmarks.py` runs every contender once on the `tiny` dataset in CI.

The adaptive request rate against a rate-limited, a slow and a loopback sandbox (issue 16 §1)
has its own runner, `python -m benchmarks.rate` (`benchmarks/rate.py` says what it measures):

    .venv/bin/python -m benchmarks.rate --dataset medium --limit 20 --latency-ms 100 \\
        --loopback-runs 3 --baseline /tmp/qcw-before   # a checkout of the code before

Datasets
--------
The sandbox (`pipelines/sandbox`) serves each one from its own process on 127.0.0.1, started
with `--warm`: it generates every backtest's orders before it serves, on every core (about
7.5k orders/s on 2 cores: medium takes about 30 s, large about 2 min and holds about 1.7 GB),
so that no contender waits for the generator (about 4k orders/s per core, behind an LRU of 48
backtests) and a page of 100 orders is answered from memory in about 0.4 ms. About 3 events per
order.

    tiny     2 projects x  3 backtests x   ~60 orders     a few hundred orders (smoke test)
    small    5 projects x 10 backtests x  ~200 orders     ~10k orders
    medium  10 projects x 20 backtests x ~1000 orders     ~200k orders
    large   20 projects x 50 backtests x ~1000 orders     ~1M orders

Contenders
----------
    pipeline        `sync_everything` into a new DuckDB file, `max_concurrency=C`, no rate
                    ceiling (the adaptive rate: at most C in flight, starting from 2)
    resync          `sync_everything` again on that file right after: nothing new, so it must
                    make no `backtests/orders/read` request
    download_floor  the pipeline's requests (projects, backtest lists and reads, every order
                    window of every finished backtest) at concurrency C, signed the same way,
                    over `http.client` keep-alive connections; order pages thrown away
    parse_floor     decoding those reply bodies only (fetched first, off the clock), with the
                    fastest of msgspec, orjson and json
    naive           requests + `pandas.json_normalize` + DuckDB, one request at a time
    dlt_default     dlt's `rest_api` source, default settings (insert_values files), with a
                    start/end paginator and a signing auth (`benchmarks/dlt_rest.py`); events
                    land in dlt's child table `orders__events`
    dlt_tuned       the same with parquet files, 100k-item buffers and file rotation, C extract
                    workers, one normalize process per core, C load workers, `parallelized`

Method
------
- For each dataset: start the sandbox, run the pipeline once off the clock (a warm-up that also
  gives the reference row counts), then `--runs` runs of every contender, in the opposite order
  every other run, each run in a fresh folder (fresh DuckDB files, fresh dlt `pipelines_dir`).
- Each contender run is its own child process (`benchmarks/child.py`) that imports only what
  it needs. Wall time is measured inside it, around the work only (imports excluded; DuckDB
  connect to close included). From outside, the parent samples the RSS of the child's whole
  process tree (dlt's normalize workers included) every 50 ms with psutil, takes its CPU time
  (user + system) from `getrusage`, and reads the API requests it made as deltas of the
  sandbox's `GET /sandbox/stats`.
- A run counts only after a check: every loader must load exactly the pipeline's projects,
  backtests, orders and order events; the re-sync must also fetch no order page. A contender
  with a failed run is marked FAILED, and only its passing runs are timed.
- The table shows medians of the passing runs. Orders/s and events/s are the dataset's row
  counts over the wall time, for every contender (the floors too, so they read as ceilings).
  "throughput vs pipeline" divides a contender's orders/s by the pipeline's (above 1: faster);
  "wall vs pipeline" divides its wall time by the pipeline's (below 1: faster).
- The sandbox and the contenders share the machine's cores; nothing is pinned.
"""
