"""Engine micro-benchmark: validation, planning and execution overhead on trivial nodes.

Run from the repository root:

    python bench/engine.py [--sizes 100,1000,10000] [--repeat 3] [--shapes chain,wide,tree]
                           [--profile]

Three graph shapes are built as API-format prompts of about N trivial nodes each:

* chain: BenchConst -> BenchAdd -> ... -> BenchAdd -> BenchSink (depth N);
* wide:  one BenchConst feeding (N-1)//2 branches, each BenchAdd -> its own BenchSink
         (many output nodes, one shared source);
* tree:  a binary reduction tree: N/2 BenchConst leaves, BenchAdd internal nodes adding two
         children, and a BenchSink on the root.

For each shape and size the script times (median of --repeat, each repeat on a fresh Executor):

1. validate+plan: validate_prompt + make_plan, no execution;
2. cold:          validate_prompt + Executor.execute with an empty cache;
3. cached:        the same prompt again on the same Executor (nothing may execute);
4. changed:       one literal changed (near the end of the chain, one branch of the wide graph,
                  one leaf of the tree); exactly that node's descendants must execute.

Every run is checked (status, executed/cached node sets, the values the output nodes report),
so a fast but wrong run fails loudly instead of producing a number. Targets (from the issue):
cold <= 30 us per executed node, cached <= 10 us per cached node, validate+plan <= 0.3 s per
10,000 nodes, and per-node cost at the largest size <= 2x the cost at the size before it.
Exit status: 0 all targets met, 1 a target missed, 2 a run was wrong or crashed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

try:
    import nodegraph  # noqa: F401
except ImportError:  # run as `python bench/engine.py` without PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodegraph import Input, Int, Registry, Result, node
from nodegraph.execute import Executor, RunResult
from nodegraph.plan import make_plan
from nodegraph.settings import CacheSettings, Settings
from nodegraph.validate import Validation, validate_prompt

# -- targets -----------------------------------------------------------------------------------

COLD_US_PER_NODE = 30.0
CACHED_US_PER_NODE = 10.0
PLAN_S_PER_10K = 0.3
GROWTH_LIMIT = 2.0

# -- the trivial nodes -------------------------------------------------------------------------

BIG = 1 << 40
IntValue = Annotated[int, Int(min=-BIG, max=BIG)]
IntLink = Annotated[int, Input(force_input=True)]


@node("BenchConst", category="bench", python_module="bench")
def bench_const(value: IntValue = 0) -> int:
    """A constant integer."""
    return value


@node("BenchAdd", category="bench", python_module="bench")
def bench_add(a: IntLink, b: IntValue = 0) -> int:
    """a + b; `b` is a widget that may also be linked (a converted widget)."""
    return a + b


@node("BenchSink", category="bench", python_module="bench", output_node=True)
def bench_sink(value: IntLink) -> Result:
    """An output node reporting the value it receives."""
    return Result(ui={"value": [value]})


def make_registry() -> Registry:
    registry = Registry()
    registry.add(bench_const, bench_add, bench_sink)
    return registry


# -- graph shapes ------------------------------------------------------------------------------

ApiPrompt = dict[str, dict[str, Any]]


@dataclass
class Graph:
    """An API prompt, the values its sinks must report, and a one-literal variant."""

    shape: str
    prompt: ApiPrompt
    expected: dict[str, int]  # sink id -> value
    changed: ApiPrompt  # `prompt` with one literal changed
    changed_node: str
    changed_expected: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.prompt)


class _Builder:
    def __init__(self) -> None:
        self.prompt: ApiPrompt = {}

    def add(self, class_type: str, **inputs: Any) -> str:
        nid = str(len(self.prompt) + 1)
        self.prompt[nid] = {"class_type": class_type, "inputs": inputs}
        return nid


def _link(nid: str) -> list[Any]:
    return [nid, 0]


def _with_literal(prompt: ApiPrompt, nid: str, name: str, value: int) -> ApiPrompt:
    changed = dict(prompt)
    entry = prompt[nid]
    changed[nid] = {**entry, "inputs": {**entry["inputs"], name: value}}
    return changed


def build_chain(n: int) -> Graph:
    """Const -> (n-2) x Add(+1) -> Sink; the Add three from the end gets +1001 instead."""
    if n < 5:
        raise ValueError("chain needs at least 5 nodes")
    b = _Builder()
    prev = b.add("BenchConst", value=7)
    adds = []
    for _ in range(n - 2):
        prev = b.add("BenchAdd", a=_link(prev), b=1)
        adds.append(prev)
    sink = b.add("BenchSink", value=_link(prev))
    total = 7 + (n - 2)
    target = adds[-2]  # near the end: it, the last Add and the sink re-run
    return Graph(
        "chain",
        b.prompt,
        {sink: total},
        _with_literal(b.prompt, target, "b", 1001),
        target,
        {sink: total + 1000},
    )


def build_wide(n: int) -> Graph:
    """One Const feeding k = (n-1)//2 branches Add(+i) -> Sink; branch k//2 gets changed."""
    k = (n - 1) // 2
    if k < 2:
        raise ValueError("wide needs at least 5 nodes")
    b = _Builder()
    src = b.add("BenchConst", value=3)
    expected: dict[str, int] = {}
    branches: list[tuple[str, str, int]] = []
    for i in range(k):
        add = b.add("BenchAdd", a=_link(src), b=i)
        sink = b.add("BenchSink", value=_link(add))
        expected[sink] = 3 + i
        branches.append((add, sink, i))
    add, sink, i = branches[k // 2]
    new_b = -1 - i  # unlike every other branch's b, or the Merkle key would hit the cache
    return Graph(
        "wide",
        b.prompt,
        expected,
        _with_literal(b.prompt, add, "b", new_b),
        add,
        {**expected, sink: 3 + new_b},
    )


def build_tree(n: int) -> Graph:
    """n//2 Const leaves reduced pairwise by Add(a, b linked) up to one root, then a Sink."""
    leaves = n // 2
    if leaves < 2:
        raise ValueError("tree needs at least 4 nodes")
    b = _Builder()
    level = [b.add("BenchConst", value=i) for i in range(leaves)]
    while len(level) > 1:
        nxt = [
            b.add("BenchAdd", a=_link(level[j]), b=_link(level[j + 1]))
            for j in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])  # odd one out moves up a level
        level = nxt
    sink = b.add("BenchSink", value=_link(level[0]))
    total = leaves * (leaves - 1) // 2
    leaf = str(leaves // 3 + 1)  # some leaf in the first third; its value is leaves // 3
    # the new value must differ from every leaf's, or its Merkle key would hit the cache
    return Graph(
        "tree",
        b.prompt,
        {sink: total},
        _with_literal(b.prompt, leaf, "value", leaves // 3 + leaves),
        leaf,
        {sink: total + leaves},
    )


SHAPES: dict[str, Callable[[int], Graph]] = {
    "chain": build_chain,
    "wide": build_wide,
    "tree": build_tree,
}


def descendants(prompt: ApiPrompt, start: str) -> set[str]:
    """`start` and every node that (transitively) consumes it."""
    consumers: dict[str, list[str]] = {nid: [] for nid in prompt}
    for nid, entry in prompt.items():
        for value in entry["inputs"].values():
            if isinstance(value, list):
                consumers[str(value[0])].append(nid)
    seen = {start}
    todo = [start]
    while todo:
        for c in consumers[todo.pop()]:
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


# -- the measured operations -------------------------------------------------------------------


class WrongResult(AssertionError):
    """The engine produced a wrong result: the timing would be meaningless."""


def check(cond: bool, message: str) -> None:
    if not cond:
        raise WrongResult(message)


def validate_ok(registry: Registry, prompt: ApiPrompt) -> Validation:
    validation = validate_prompt(registry, prompt)
    if not validation.ok:
        raise WrongResult(f"validation failed: {validation.to_json()}")
    return validation


def validate_and_plan(registry: Registry, graph: Graph) -> None:
    validation = validate_ok(registry, graph.prompt)
    plan = make_plan(validation.specs, validation.prompt, validation.outputs, validation.order)
    check(len(plan.order) == graph.size, f"plan has {len(plan.order)} of {graph.size} nodes")
    check(set(plan.outputs) == set(graph.expected), "plan outputs differ from the sinks")


def make_executor(registry: Registry, graph: Graph) -> Executor:
    """A fresh Executor with default settings, except that the LRU cache is made large enough
    to hold the whole graph (the default of 10,000 entries would evict on larger --sizes)."""
    default = CacheSettings()
    cache = CacheSettings(max_entries=max(default.max_entries, 2 * graph.size))
    return Executor(registry, Settings(cache=cache))


def run(registry: Registry, executor: Executor, prompt: ApiPrompt, prompt_id: str) -> RunResult:
    validation = validate_ok(registry, prompt)
    return executor.execute(
        validation.prompt,
        validation.outputs,
        prompt_id=prompt_id,
        specs=validation.specs,
        order=validation.order,
    )


def check_run(
    what: str,
    graph: Graph,
    result: RunResult,
    executed: set[str],
    expected: dict[str, int],
) -> None:
    where = f"{graph.shape} n={graph.size} {what}"
    check(result.status == "success", f"{where}: status {result.status}: {result.error}")
    check(
        len(result.executed) == len(executed) and set(result.executed) == executed,
        f"{where}: executed {len(result.executed)} nodes, expected {len(executed)}",
    )
    cached = set(graph.prompt) - executed
    check(
        len(result.cached) == len(cached) and set(result.cached) == cached,
        f"{where}: {len(result.cached)} nodes cached, expected {len(cached)}",
    )
    reported = {nid: ui["value"][0] for nid, ui in result.outputs.items() if "value" in ui}
    check(reported == expected, f"{where}: output nodes reported wrong values")


@dataclass
class Case:
    """Medians (seconds) of one shape at one size; `error` when a run crashed or was wrong."""

    shape: str
    size: int
    plan_s: float = 0.0
    cold_s: float = 0.0
    cached_s: float = 0.0
    changed_s: float = 0.0
    changed_executed: int = 0
    error: str | None = None


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(registry: Registry, graph: Graph, repeat: int) -> Case:
    case = Case(graph.shape, graph.size)
    everything = set(graph.prompt)
    changed_set = descendants(graph.prompt, graph.changed_node)
    plan_t: list[float] = []
    cold_t: list[float] = []
    cached_t: list[float] = []
    changed_t: list[float] = []
    try:
        for i in range(repeat):
            t, _ = timed(lambda: validate_and_plan(registry, graph))
            plan_t.append(t)

            executor = make_executor(registry, graph)
            t, res = timed(lambda ex=executor: run(registry, ex, graph.prompt, "cold"))
            check_run("cold", graph, res, everything, graph.expected)
            cold_t.append(t)

            t, res = timed(lambda ex=executor: run(registry, ex, graph.prompt, "cached"))
            check_run("cached", graph, res, set(), graph.expected)
            cached_t.append(t)

            t, res = timed(lambda ex=executor: run(registry, ex, graph.changed, "changed"))
            check_run("changed", graph, res, changed_set, graph.changed_expected)
            changed_t.append(t)
            del executor, res
            if i == 0:
                case.changed_executed = len(changed_set)
    except RecursionError as ex:
        case.error = f"RecursionError (engine recursion on deep graph): {ex}"
        traceback.print_exc(limit=-8)
    except WrongResult as ex:
        case.error = f"WRONG RESULT: {ex}"
    except Exception as ex:
        case.error = f"CRASH: {type(ex).__name__}: {ex}"
        traceback.print_exc(limit=-8)
    if case.error is None:
        case.plan_s = statistics.median(plan_t)
        case.cold_s = statistics.median(cold_t)
        case.cached_s = statistics.median(cached_t)
        case.changed_s = statistics.median(changed_t)
    return case


# -- report ------------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    misses: int = 0
    errors: int = 0

    def out(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def metric_rows(case: Case) -> list[tuple[str, float, float, str, float | None]]:
    """(metric, total s, us/node, basis, target us/node or None) for one case."""
    n = case.size
    return [
        ("validate+plan", case.plan_s, case.plan_s / n * 1e6, "node", PLAN_S_PER_10K / 1e4 * 1e6),
        ("cold", case.cold_s, case.cold_s / n * 1e6, "executed", COLD_US_PER_NODE),
        ("cached", case.cached_s, case.cached_s / n * 1e6, "cached", CACHED_US_PER_NODE),
        (
            f"changed ({case.changed_executed} ran)",
            case.changed_s,
            case.changed_s / n * 1e6,
            "node",
            None,
        ),
    ]


def print_table(cases: list[Case], report: Report) -> None:
    header = (
        f"{'shape':<6} {'nodes':>6}  {'measurement':<18} {'total ms':>10} "
        f"{'us/node':>8}  {'per':<9} {'target':>8}  result"
    )
    report.out(header)
    report.out("-" * len(header))
    for case in cases:
        if case.error is not None:
            report.errors += 1
            report.out(f"{case.shape:<6} {case.size:>6}  ERROR: {case.error}")
            continue
        for metric, total, per_node, basis, target in metric_rows(case):
            if target is None:
                target_text, result = "-", "ok (correct nodes re-ran)"
            else:
                ok = per_node <= target
                report.misses += not ok
                target_text, result = f"<={target:g}", verdict(ok)
            report.out(
                f"{case.shape:<6} {case.size:>6}  {metric:<18} {total * 1e3:>10.2f} "
                f"{per_node:>8.2f}  {basis:<9} {target_text:>8}  {result}"
            )
        report.out()


def print_growth(cases: list[Case], report: Report) -> None:
    report.out(f"Linear growth (us/node at the largest size <= {GROWTH_LIMIT:g}x the size before):")
    by_shape: dict[str, list[Case]] = {}
    for case in cases:
        if case.error is None:
            by_shape.setdefault(case.shape, []).append(case)
    for shape, shape_cases in by_shape.items():
        if len(shape_cases) < 2:
            report.out(f"  {shape}: needs two sizes")
            continue
        small, big = sorted(shape_cases, key=lambda c: c.size)[-2:]
        parts = []
        for (metric, _, small_us, _, _), (_, _, big_us, _, _) in zip(
            metric_rows(small)[:3], metric_rows(big)[:3], strict=True
        ):
            ratio = big_us / small_us if small_us > 0 else float("inf")
            ok = ratio <= GROWTH_LIMIT
            report.misses += not ok
            parts.append(f"{metric} {ratio:.2f}x {verdict(ok)}")
        report.out(f"  {shape:<6} {small.size}->{big.size}: " + ", ".join(parts))


def profile_slowest(
    registry: Registry, graphs: dict[tuple[str, int], Graph], cases: list[Case]
) -> None:
    """cProfile (top 15 by cumulative time) of the slowest shape per category, largest size."""
    good = [c for c in cases if c.error is None]
    if not good:
        return
    largest = max(c.size for c in good)
    at_largest = [c for c in good if c.size == largest]
    categories: list[tuple[str, Callable[[Case], float]]] = [
        ("cold", lambda c: c.cold_s / c.size),
        ("cached", lambda c: c.cached_s / c.size),
        ("validate+plan", lambda c: c.plan_s / c.size),
    ]
    for category, cost in categories:
        case = max(at_largest, key=cost)
        graph = graphs[(case.shape, case.size)]
        executor = make_executor(registry, graph)
        if category == "cached":
            run(registry, executor, graph.prompt, "warm-up")
        profiler = cProfile.Profile()
        gc.collect()
        profiler.enable()
        if category == "validate+plan":
            validate_and_plan(registry, graph)
        else:
            run(registry, executor, graph.prompt, category)
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("cumulative").print_stats(15)
        print(f"\n=== profile: {category}, shape {case.shape}, {case.size} nodes ===")
        body = stream.getvalue()
        start = body.find("   ncalls")
        print(body[start:].rstrip() if start >= 0 else body.rstrip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated node counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="subset of chain,wide,tree")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print cProfile top 15 of the slowest case per category at the largest size",
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in args.shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    if args.repeat < 1 or not args.sizes or min(args.sizes) < 10:
        parser.error("--repeat must be >= 1 and every size >= 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    registry = make_registry()
    report = Report()
    report.out(
        f"nodegraph engine benchmark: python {sys.version.split()[0]}, "
        f"median of {args.repeat}, recursion limit {sys.getrecursionlimit()}"
    )
    report.out(
        f"targets: cold <= {COLD_US_PER_NODE:g} us/executed node, cached <= "
        f"{CACHED_US_PER_NODE:g} us/cached node, validate+plan <= {PLAN_S_PER_10K:g} s per "
        f"10,000 nodes; all include validation"
    )
    report.out()
    graphs: dict[tuple[str, int], Graph] = {}
    cases: list[Case] = []
    for shape in args.shapes:
        for size in args.sizes:
            graph = SHAPES[shape](size)
            graphs[(shape, graph.size)] = graph
            cases.append(measure(registry, graph, args.repeat))
    print_table(cases, report)
    print_growth(cases, report)
    report.out()
    if report.errors:
        report.out(f"RESULT: {report.errors} case(s) WRONG or CRASHED (see ERROR rows)")
    elif report.misses:
        report.out(f"RESULT: correct, but {report.misses} target(s) missed")
    else:
        report.out("RESULT: correct, all targets met")
    if args.profile:
        profile_slowest(registry, graphs, cases)
    return 2 if report.errors else 1 if report.misses else 0


if __name__ == "__main__":
    sys.exit(main())
