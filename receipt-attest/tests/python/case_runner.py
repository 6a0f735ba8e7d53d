"""Runs a verifier over the cases of CASES.json (the script's one argument).

Each case is a JSON object with at least "name" and "expect" ("accept" or "reject"). The
verifier's `run(case)` accepts by returning a detail string and rejects by raising; the
reason is printed either way. Prints one line per case, starting "ok  " when the outcome is
the expected one and "FAIL" when not; the exit status is 1 when any case failed.
"""

import json
import sys
from collections.abc import Callable


def run_cases(run: Callable[[dict], str]) -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    failures = 0
    for case in cases:
        try:
            detail, got = run(case), "accept"
        except Exception as e:  # noqa: BLE001 - every refusal is an outcome here
            detail, got = f"{type(e).__name__}: {e}", "reject"
        mark = "ok  " if got == case["expect"] else "FAIL"
        failures += got != case["expect"]
        print(f"{mark} {case['name']}: {got} ({detail})")
    return 1 if failures else 0
