"""Where the time of one action goes: SQL statements, ms in SpiffWorkflow, in database round trips,
in the audit trail. Bench-only instrumentation: it wraps library and product functions for the
duration of a `with Breakdown():` block and puts them back after; product code carries no timers.

    with Breakdown() as b:
        with b.action("complete"):
            work_item_complete(...)
    b.rows()  # per action: count, mean ms, statements, ms engine / db / audit / rest
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

TX_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Breakdown:
    def __init__(self) -> None:
        self._stack = ExitStack()
        self._depth: dict[str, int] = defaultdict(int)
        self._spent: dict[str, float] = defaultdict(float)
        self._current: str | None = None
        self._queries: list[str] = []
        self.samples: dict[str, list[dict[str, float]]] = defaultdict(list)

    # --- instrumentation ------------------------------------------------------------------

    def _timed(self, category: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._depth[category]:  # nested call of the same kind: counted by the outer one
                return func(*args, **kwargs)
            self._depth[category] += 1
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self._spent[category] += time.perf_counter() - t0
                self._depth[category] -= 1

        wrapper.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapper

    def _patch_attr(self, owner: Any, name: str, category: str) -> None:
        original = getattr(owner, name)
        setattr(owner, name, self._timed(category, original))
        self._stack.callback(setattr, owner, name, original)

    def _patch_everywhere(self, original: Callable[..., Any], category: str, prefixes: tuple[str, ...]) -> None:
        """Replace every module-level reference to `original` (``from x import f`` copies the name)."""
        wrapped = self._timed(category, original)
        for module_name, module in list(sys.modules.items()):
            if module is None or not module_name.startswith(prefixes):
                continue
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, wrapped)
                    self._stack.callback(setattr, module, attr, original)

    def _execute(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._spent["db"] += time.perf_counter() - t0

    def _commit_timed(self, original: Callable[[], Any]) -> Callable[[], Any]:
        def commit() -> Any:
            t0 = time.perf_counter()
            try:
                return original()
            finally:
                self._spent["db"] += time.perf_counter() - t0

        return commit

    def __enter__(self) -> Breakdown:
        from django.db import DEFAULT_DB_ALIAS, connection, connections
        from django.test.utils import CaptureQueriesContext
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.task import Task as SpiffTask

        import audit.services
        import engine.spiff

        # SpiffWorkflow: state load and dump (Procedo's format) and running tasks/engine steps
        prefixes = ("engine.", "cases.")
        self._patch_everywhere(engine.spiff.load_workflow, "engine", prefixes)
        self._patch_everywhere(engine.spiff.dump_workflow, "engine", prefixes)
        self._patch_attr(BpmnWorkflow, "do_engine_steps", "engine")
        self._patch_attr(SpiffTask, "run", "engine")
        # the audit trail: the whole append (its SQL is also in "db")
        self._patch_everywhere(audit.services.audit_record, "audit",
                               ("cases.", "audit.", "accounts.", "documents.", "engine."))
        self._stack.enter_context(connection.execute_wrapper(self._execute))
        # COMMIT does not go through execute(): time it too (the WAL flush is part of every action)
        wrapper = connections[DEFAULT_DB_ALIAS]
        wrapper._commit = self._commit_timed(wrapper._commit)
        self._stack.callback(lambda: wrapper.__dict__.pop("_commit", None))
        # statement counts as Django logs them (BEGIN/COMMIT included, as the Viewflow peer counts)
        self._capture = self._stack.enter_context(CaptureQueriesContext(connection))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    # --- measuring ------------------------------------------------------------------------

    @contextmanager
    def action(self, name: str) -> Iterator[None]:
        self._spent.clear()
        first = len(self._capture.captured_queries)
        t0 = time.perf_counter()
        yield
        total = time.perf_counter() - t0
        queries = [q["sql"] for q in self._capture.captured_queries[first:]]
        self._queries = queries
        tx = sum(1 for q in queries if q.lstrip().upper().startswith(TX_CONTROL))
        self.samples[name].append({
            "total": total * 1000,
            "engine": self._spent["engine"] * 1000,
            "db": self._spent["db"] * 1000,
            "audit": self._spent["audit"] * 1000,
            "data_sql": len(self._queries) - tx,
            "tx_sql": tx,
        })

    def mean(self, name: str, key: str) -> float:
        return statistics.mean(s[key] for s in self.samples[name]) if self.samples[name] else float("nan")

    def table(self, names: list[str]) -> str:
        """Markdown rows; "tx" statements are BEGIN/COMMIT/SAVEPOINT/RELEASE as Django logs them."""
        lines = [
            "| action | n | mean ms | SQL data statements | SQL tx statements | ms SpiffWorkflow (load, run, dump) "
            "| ms in DB round trips (all SQL) | ms in audit (incl. its SQL) | ms other Python (ORM, Django, rules) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in names:
            if not self.samples[name]:
                continue
            total, engine, db, audit = (self.mean(name, k) for k in ("total", "engine", "db", "audit"))
            lines.append(
                f"| {name} | {len(self.samples[name])} | {total:.2f} | {self.mean(name, 'data_sql'):.1f} | "
                f"{self.mean(name, 'tx_sql'):.1f} | {engine:.2f} | {db:.2f} | {audit:.2f} | "
                f"{max(0.0, total - engine - db):.2f} |"
            )
        return "\n".join(lines)
