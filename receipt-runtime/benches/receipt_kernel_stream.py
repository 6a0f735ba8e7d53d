#!/usr/bin/env python3
"""receipt-kernel (PyPI receipt-kernel==0.1.0) on the event stream of the `event_stream`
group of `benches/evidence.rs`: one run appending small `{"task": ...}` events, durably
(a SQLite file beside our bench's ledgers, in the package directory) and in memory
(`:memory:`). Prints the median events/s of each over several runs, and what "durable"
means for it (journal mode and `synchronous` of its connection).

receipt-kernel's `append_event` commits once per event; in WAL mode with the default
`synchronous=FULL` every commit fsyncs the WAL, and the call returns after that fsync: one
fsync per event, and each event is durable when its call returns.

    python -m venv /work/rk-venv && /work/rk-venv/bin/pip install receipt-kernel==0.1.0
    /work/rk-venv/bin/python receipt-runtime/benches/receipt_kernel_stream.py [--runs 7]
"""

import argparse
import os
import statistics
import tempfile
import time

from receipt_kernel.envelope import make_envelope
from receipt_kernel.store_sqlite import SqliteReceiptStore


def envelope(event_type, stage, payload):
    return make_envelope(
        event_type=event_type,
        stage=stage,
        actor_kind="system",
        actor_id="bench",
        policy_id="default",
        policy_version="1.0",
        stage_graph_id="default",
        payload=payload,
    )


def one_run(db_path, events):
    """One run: RUN_START, `events` events, RUN_FINALIZE; returns (entries, seconds, pragmas)."""
    start = time.perf_counter()
    store = SqliteReceiptStore(db_path)
    store.initialize_schema()
    run_id = "run-bench"
    store.ensure_run(run_id, policy_id="default", policy_version="1.0", stage_graph_id="default")
    store.append_event(run_id, envelope("RUN_START", "START", {"task": "example"}))
    for i in range(events):
        store.append_event(
            run_id, envelope("STAGE_ADVANCE", "run", {"task": "example", "step": i})
        )
    store.append_event(run_id, envelope("RUN_FINALIZE", "END", {"task": "example"}))
    conn = store._conn
    pragmas = (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA synchronous").fetchone()[0],
    )
    assert store.event_count(run_id) == events + 2
    store.close()
    return events + 2, time.perf_counter() - start, pragmas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--durable-events", type=int, default=500)
    ap.add_argument("--memory-events", type=int, default=50_000)
    ap.add_argument(
        "--dir",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
        help="where the durable database goes (default: the receipt-runtime directory, "
        "as the Rust bench's tempdir_in(\".\"))",
    )
    args = ap.parse_args()
    sync_names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    for name, events, durable in [
        ("durable_sqlite_file", args.durable_events, True),
        ("in_memory", args.memory_events, False),
    ]:
        rates = []
        pragmas = None
        for _ in range(args.runs):
            if durable:
                with tempfile.TemporaryDirectory(dir=args.dir) as d:
                    n, secs, pragmas = one_run(os.path.join(d, "rk.db"), events)
            else:
                n, secs, pragmas = one_run(":memory:", events)
            rates.append(n / secs)
        mode, sync = pragmas
        print(
            f"receipt-kernel {name}: {events} events + 2, {args.runs} runs: "
            f"median {statistics.median(rates):,.0f} events/s "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}); "
            f"journal_mode={mode} synchronous={sync_names.get(sync, sync)}"
        )


if __name__ == "__main__":
    main()
