"""Facts about a composite action and the workflows that use it, printed as JSON.

Usage: lint_action.py ACTION.yml [WORKFLOW.yml ...]

Reports the action's declared inputs, the inputs its steps use (`inputs.NAME` inside
`${{ }}` expressions, anywhere under `runs`), the outputs and the steps they read, every
`uses:` reference of the action and the workflows, and the `with:` keys each workflow
passes to a local action. The Rust test `receipt-server/tests/ci.rs` asserts on them.
"""

import json
import re
import sys

from ruamel.yaml import YAML

EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
INPUT = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")
INPUT_INDEX = re.compile(r"\binputs\[\s*'([^']+)'\s*\]")
STEP_REF = re.compile(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs\.")


def load(path):
    with open(path, encoding="utf-8") as f:
        return YAML(typ="safe").load(f)


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def expressions(node):
    """Every `${{ }}` expression in the strings of `node`, and every bare `if:`."""
    for s in strings(node):
        for m in EXPR.finditer(s):
            yield m.group(1)
    yield from bare_ifs(node)


def bare_ifs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "if" and isinstance(v, str) and "${{" not in v:
                yield v
            else:
                yield from bare_ifs(v)
    elif isinstance(node, list):
        for v in node:
            yield from bare_ifs(v)


def used_inputs(node):
    used = set()
    for e in expressions(node):
        used.update(INPUT.findall(e))
        used.update(INPUT_INDEX.findall(e))
    return used


def uses_of(node):
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "uses" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(uses_of(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(uses_of(v))
    return out


def main(argv):
    action = load(argv[1])
    runs = action.get("runs", {})
    steps = runs.get("steps", []) or []
    step_ids = [s.get("id") for s in steps if s.get("id")]
    outputs = action.get("outputs", {}) or {}
    output_steps = {}
    for name, o in outputs.items():
        refs = set()
        for e in expressions(o):
            refs.update(STEP_REF.findall(e))
        output_steps[name] = sorted(refs)
    report = {
        "declared_inputs": sorted((action.get("inputs") or {}).keys()),
        "used_inputs": sorted(used_inputs(runs)),
        "inputs_used_outside_runs": sorted(
            used_inputs({k: v for k, v in action.items() if k != "runs"})
        ),
        "step_ids": step_ids,
        "output_steps": output_steps,
        "action_uses": uses_of(runs),
        "steps": [
            {
                "name": st.get("name"),
                "id": st.get("id"),
                "if": st.get("if"),
                "uses": st.get("uses"),
                "run": st.get("run"),
                "shell": st.get("shell"),
                "env": dict(st.get("env") or {}),
            }
            for st in steps
        ],
        "action_with": [
            {"uses": st["uses"], "with": dict(st.get("with") or {})}
            for st in steps
            if "uses" in st
        ],
        "workflows": {},
    }
    for wf_path in argv[2:]:
        wf = load(wf_path)
        local_with = []
        for job in (wf.get("jobs") or {}).values():
            for step in job.get("steps", []) or []:
                if str(step.get("uses", "")).startswith("./"):
                    local_with.append(
                        {"uses": step["uses"], "with": sorted((step.get("with") or {}).keys())}
                    )
        report["workflows"][wf_path] = {
            "uses": uses_of(wf.get("jobs")),
            "local_actions": local_with,
            "permissions": wf.get("permissions"),
            "on": sorted((wf.get("on") or wf.get(True) or {}).keys()),
        }
    json.dump(report, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
