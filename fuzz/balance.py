#!/usr/bin/env python3
"""Long fuzzing that evens out the time per target across runs.

Usage: fuzz/balance.py UNTIL [TARGET ... | all]

Runs WORKERS (default 2) fuzzing processes side by side until the Unix time UNTIL. Each slot
of SLOT seconds (default 300) goes to the target with the least wall + CPU minutes so far
(BY=cpu: the least CPU minutes), counting what a state file (STATE, default
./fuzz-balance.json) holds from earlier runs, so targets that ran less, or got less of a
shared machine, catch up. Every target's rounds go on from the state file, so no seed is
run twice. One line per slot is printed:

  slot worker=W target=T seed=S rc=RC wall_s=… cpu_s=… cases=N finding=false

CPU is user + system time of the slot's process. A finding is printed by the harness
(FINDING …, input saved under ./fuzz-findings/) and the run goes on. RECEIPT_FUZZ_BIN names
the harness binary (default target/release/receipt-fuzz beside this script's crate).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("RECEIPT_FUZZ_BIN", os.path.join(HERE, "..", "target", "release", "receipt-fuzz"))
SLOT = int(os.environ.get("SLOT", "300"))
WORKERS = int(os.environ.get("WORKERS", "2"))
STATE = os.environ.get("STATE", "fuzz-balance.json")
FIRST_ROUND = int(os.environ.get("FIRST_ROUND", "0"))
BY = os.environ.get("BY", "wall+cpu")
if BY not in ("wall+cpu", "cpu"):
    sys.exit(f"balance.py: BY must be wall+cpu or cpu, not {BY!r}")
lock = threading.Lock()


def load(targets):
    state = {"targets": {}}
    if os.path.exists(STATE):
        with open(STATE) as f:
            state = json.load(f)
    for t in targets:
        entry = state["targets"].setdefault(t, {})
        for key in ("wall_s", "cpu_s", "cases"):
            entry.setdefault(key, 0)
        entry.setdefault("round", FIRST_ROUND - 1)
    return state


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, STATE)


def spent(entry, running_s):
    """Seconds a target has had so far, counting its running slots as fully used."""
    if BY == "cpu":
        return entry["cpu_s"] + running_s
    return entry["wall_s"] + entry["cpu_s"] + 2 * running_s


def worker(name, until, targets, state, running):
    while True:
        left = until - time.time()
        seconds = int(min(SLOT, left))
        if seconds < 30:
            return
        with lock:
            ts = state["targets"]
            t = min(targets, key=lambda k: (spent(ts[k], running[k]), k))
            running[t] += seconds
            ts[t]["round"] += 1
            seed = ts[t]["round"] * 1_000_000 + 1
            save(state)
        start = time.time()
        child = subprocess.Popen([BIN, "run", "--seconds", str(seconds), "--seed", str(seed), t],
                                 stdout=subprocess.PIPE, text=True)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.time() - start
        cpu = usage.ru_utime + usage.ru_stime
        done = re.search(r"^done target=\S+ .*cases=(\d+) .*finding=(\w+)", out, re.M)
        cases = int(done.group(1)) if done else 0
        finding = "true" if status != 0 or not done or done.group(2) != "false" else "false"
        with lock:
            running[t] -= seconds
            entry = state["targets"][t]
            entry["wall_s"] += wall
            entry["cpu_s"] += cpu
            entry["cases"] += cases
            save(state)
            # A finding's whole report (reason and shrunk input); otherwise the summary line.
            for line in out.splitlines():
                if finding == "true" or line.startswith("done"):
                    print(line)
            print(f"slot worker={name} target={t} seed={seed} rc={os.waitstatus_to_exitcode(status)} "
                  f"wall_s={wall:.1f} cpu_s={cpu:.1f} cases={cases} finding={finding}", flush=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    until = int(sys.argv[1])
    targets = sys.argv[2:]
    if targets in ([], ["all"]):
        listing = subprocess.run([BIN, "list"], capture_output=True, text=True, check=True).stdout
        targets = [line.split()[0] for line in listing.splitlines() if line.strip()]
    state = load(targets)
    save(state)
    # Seconds of slots under way per target: counted when choosing, never saved.
    running = dict.fromkeys(targets, 0)
    threads = [threading.Thread(target=worker, args=(str(i), until, targets, state, running), daemon=True)
               for i in range(WORKERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in targets:
        e = state["targets"][t]
        print(f"total target={t} wall_min={e['wall_s'] / 60:.1f} cpu_min={e['cpu_s'] / 60:.1f} cases={e['cases']}")


if __name__ == "__main__":
    main()
