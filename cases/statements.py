"""The few hand-written SQL statements of the case write path, in one place.

Each saves a database round trip on a path that runs for every human task (measured with
`bench/profile_write_path.py`); each has an ORM fallback or an ORM twin in `cases.services`
for the cases it does not cover, and runs on PostgreSQL and on SQLite (>= 3.35, RETURNING):
the demo runs on SQLite. Table and column names come from the models' metadata, values are
always parameters.

- `work_item_claim_row`: a claim as one conditional ``UPDATE ... RETURNING`` (the row, its
  case's number and process) instead of lock + check + update + re-read;
- `work_item_for_completion`: a work item, its case and its instance, the instance row locked,
  read by one prebuilt statement (building its ORM twin cost more CPU than the rest of the read);
- `case_number_next`: the next case number of a tenant and year as one ``UPDATE ... RETURNING``;
- `case_insert_numbered` (PostgreSQL): that number, the case's INSERT and its instance's id, one statement;
- `work_item_complete_sql`, `insert_sql`: the projection's statements, their text built once;
- `execute_together`: on PostgreSQL, several data-modifying statements built by the ORM run as
  one statement (data-modifying CTEs); elsewhere one after the other.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import QuerySet

from audit.services import FoldedAppend, PreparedAudit

from .models import Case, CaseNumberSequence, WorkItem


@functools.cache
def _work_item_fields() -> tuple[Any, ...]:
    return tuple(WorkItem._meta.concrete_fields)


@functools.cache
def _claim_sql(role_count: int) -> str:
    table = connection.ops.quote_name(WorkItem._meta.db_table)
    cases = connection.ops.quote_name(Case._meta.db_table)
    q = connection.ops.quote_name
    columns = ", ".join(f"{table}.{q(f.column)}" for f in _work_item_fields())
    roles = f" AND {q('role')} IN ({', '.join(['%s'] * role_count)})" if role_count else ""
    return (
        f"UPDATE {table} SET {q('assignee_id')} = %s, {q('claimed_at')} = %s "
        f"WHERE {q('id')} = %s AND {q('tenant_id')} = %s AND {q('status')} = %s "
        f"AND {q('assignee_id')} IS NULL AND {q('excluded_username')} <> %s{roles} "
        f"RETURNING {columns}, "
        f"(SELECT c.{q('number')} FROM {cases} c WHERE c.{q('id')} = {table}.{q('case_id')}) AS claimed_case_number, "
        f"(SELECT c.{q('process_id')} FROM {cases} c WHERE c.{q('id')} = {table}.{q('case_id')}) AS claimed_process_id"
    )


def work_item_claim_row(
    *, work_item_id: int, tenant_id: int, user_id: int, username: str, roles: Iterable[str] | None,
    now: dt.datetime, audit: PreparedAudit | None = None, summary_format: str = "",
) -> tuple[WorkItem, str, str] | None:
    """Give an open, unassigned work item to the user, if every rule of a claim holds.

    `roles`: the item's role must be one of them; None skips the role test (a supervisor works
    every role). Returns the updated row, its case's number and process id; None when no row
    matched (not found, closed, claimed, not the user's role, four-eyes): the caller then finds
    out which under a row lock. Taking the row lock itself (the UPDATE), it is exactly-one-winner
    among concurrent claims and against completions and assignments of the same row.

    `audit` (the claim's event; its text is filled here from the claimed row: "<case number>:
    <task name>" and `summary_format` % {"t": task name}): on PostgreSQL its append travels in the
    same statement when it can (`PreparedAudit.fold`); it is written here otherwise. Nothing is
    appended when no row matched.
    """
    from .models import WorkItemStatus

    role_list = sorted(roles) if roles is not None else []
    if roles is not None and not role_list:
        return None
    claimed_at = WorkItem._meta.get_field("claimed_at").get_db_prep_save(now, connection)
    params = [user_id, claimed_at, work_item_id, tenant_id, WorkItemStatus.OPEN, username, *role_list]
    sql = _claim_sql(len(role_list) if roles is not None else 0)
    folded = _claim_audit_fold(audit, summary_format) if audit is not None else None
    if folded is not None:
        sql = f"WITH claimed AS ({sql}), {folded.ctes} SELECT claimed.*, {', '.join(f'ev.{c}' for c in folded.columns)} " \
              f"FROM claimed LEFT JOIN ev ON true"
        params += folded.params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    fields = _work_item_fields()
    values = _convert(WorkItem, fields, row[: len(fields)])
    item = WorkItem.from_db(connection.alias, [f.attname for f in fields], values)
    case_number, process_id = row[len(fields)], row[len(fields) + 1]
    if audit is not None:
        audit.case_id = item.case_id
        audit.event.object_repr = f"{case_number}: {item.name}"[:300]
        audit.event.summary = summary_format % {"t": item.name}
        if folded is None or not audit.accept(row[len(fields) + 2:]):
            audit.write()  # not folded, or the chain's head was missing (the tenant's first event)
    return item, case_number, process_id


def _claim_audit_fold(audit: PreparedAudit, summary_format: str) -> FoldedAppend | None:
    """The claim's audit append over the `claimed` CTE: its text from the claimed row."""
    if summary_format.count("%(t)s") != 1 or "%" in summary_format.replace("%(t)s", ""):
        return None  # a translation with other placeholders: formatted in Python, written apart
    prefix, suffix = summary_format.split("%(t)s")
    q = connection.ops.quote_name
    name = f"claimed.{q('name')}"
    return audit.fold(
        computed={
            "object_repr": (f"SELECT left(claimed.claimed_case_number || %s || {name}, 300) FROM claimed", [": "]),
            "summary": (f"SELECT %s || {name} || %s FROM claimed", [prefix, suffix]),
        },
        case_id_sql=f"SELECT claimed.{q('case_id')} FROM claimed",
    )


def _convert(model: Any, fields: Sequence[Any], row: Sequence[Any]) -> list[Any]:
    """Database values to Python values, as the ORM would convert them (dates on SQLite, ...).

    The converters of a set of columns are asked of the ORM once per connection (building them
    cost more than the rest of a completion's read), then applied as the ORM applies them."""
    cache = getattr(connection, "_procedo_converters", None)
    if cache is None:
        cache = {}
        connection._procedo_converters = cache  # on this connection's wrapper: its backend's converters
    key = (model, tuple(fields))
    converters = cache.get(key)
    if converters is None:
        compiler = model.objects.all().query.get_compiler(connection=connection)
        columns = [f.get_col(model._meta.db_table) for f in fields]
        converters = cache[key] = tuple(compiler.get_converters(columns).items())
    values = list(row)
    conn = connections[DEFAULT_DB_ALIAS]
    for position, (functions, expression) in converters:
        value = values[position]
        for function in functions:
            value = function(value, expression, conn)
        values[position] = value
    return values


@functools.cache
def _completion_read() -> tuple[str, tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    from engine.models import WorkflowInstance

    q = connection.ops.quote_name
    item_fields = _work_item_fields()
    case_fields = tuple(f for f in Case._meta.concrete_fields if f.name not in ("data", "subjects"))
    instance_fields = tuple(WorkflowInstance._meta.concrete_fields)
    columns = ", ".join(
        [f"w.{q(f.column)}" for f in item_fields]
        + [f"c.{q(f.column)}" for f in case_fields]
        + [f"i.{q(f.column)}" for f in instance_fields]
    )
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
    sql = (
        f"SELECT {columns} FROM {q(WorkItem._meta.db_table)} w "
        f"INNER JOIN {q(Case._meta.db_table)} c ON c.{q('id')} = w.{q('case_id')} "
        f"INNER JOIN {q(WorkflowInstance._meta.db_table)} i ON i.{q('id')} = c.{q('instance_id')} "
        f"WHERE w.{q('id')} = %s AND w.{q('tenant_id')} = %s{lock}"
    )
    return sql, item_fields, case_fields, instance_fields


def work_item_for_completion(*, work_item_id: int, tenant: Any) -> WorkItem | None:
    """A work item with its case (without its data) and its instance, locking the instance row
    only (engine.locks level 1), in one statement; None when the tenant has no such item.

    The ORM twin is ``WorkItem.objects.select_for_update(of=("case__instance",))
    .select_related("case", "case__instance").defer("case__data", "case__subjects")``: the same
    SQL, without building it on every completion.
    """
    from engine.models import WorkflowInstance

    sql, item_fields, case_fields, instance_fields = _completion_read()
    with connection.cursor() as cursor:
        cursor.execute(sql, [work_item_id, tenant.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    a, b = len(item_fields), len(item_fields) + len(case_fields)
    item = WorkItem.from_db(connection.alias, [f.attname for f in item_fields], _convert(WorkItem, item_fields, row[:a]))
    case = Case.from_db(connection.alias, [f.attname for f in case_fields], _convert(Case, case_fields, row[a:b]))
    instance = WorkflowInstance.from_db(
        connection.alias, [f.attname for f in instance_fields], _convert(WorkflowInstance, instance_fields, row[b:])
    )
    instance.tenant = case.tenant = item.tenant = tenant
    case.instance = instance
    item.case = case
    return item


@functools.cache
def _number_sql() -> str:
    q = connection.ops.quote_name
    table = q(CaseNumberSequence._meta.db_table)
    return (
        f"UPDATE {table} SET {q('last')} = {q('last')} + 1 "
        f"WHERE {q('tenant_id')} = %s AND {q('year')} = %s RETURNING {q('last')}"
    )


def case_number_next(*, tenant_id: int, year: int) -> int | None:
    """Advance the tenant's case-number sequence of `year` (locking its row until commit).

    None when the year's row does not exist yet: the caller creates it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_number_sql(), [tenant_id, year])
        row = cursor.fetchone()
    return int(row[0]) if row is not None else None


@functools.cache
def _case_insert_sql(watch_sql: tuple[str, ...]) -> tuple[str, tuple[Any, ...]]:
    from engine.models import WorkflowInstance

    q = connection.ops.quote_name
    seq = q(CaseNumberSequence._meta.db_table)
    fields = tuple(f for f in Case._meta.concrete_fields if not f.primary_key)
    last = f"n.{q('last')}"

    def value(field: Any) -> str:
        if field.name == "number":
            return (f"(SELECT %s || '/' || CASE WHEN {last} < 1000000 THEN lpad({last}::text, 6, '0') "
                    f"ELSE {last}::text END FROM n)")
        if field.name == "subjects_watched" and watch_sql:
            return f"({' OR '.join(f'({sql})' for sql in watch_sql)})"
        return "%s"

    instance_seq = f"pg_get_serial_sequence('{WorkflowInstance._meta.db_table}', 'id')"
    sql = (
        f"WITH n AS (INSERT INTO {seq} ({q('tenant_id')}, {q('year')}, {q('last')}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({q('tenant_id')}, {q('year')}) DO UPDATE SET {q('last')} = {seq}.{q('last')} + 1 "
        f"RETURNING {q('last')}) "
        f"INSERT INTO {q(Case._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
        f"VALUES ({', '.join(value(f) for f in fields)}) "
        f"RETURNING {q('id')}, {q('number')}, nextval({instance_seq}), {q('subjects_watched')}"
    )
    return sql, fields


def case_insert_numbered(case: Case, *, year: int, fiscal_codes: Sequence[str] = ()) -> int:
    """PostgreSQL: advance the tenant's case-number sequence of `year` (creating its row for the
    first case of the year, locking it until commit), insert `case` with that number and reserve
    the id of its workflow instance, in one statement. Sets `case.pk` and `case.number`; returns
    the reserved instance id (engine.services.instance_start(instance_id=...)).

    `fiscal_codes` (the case's subjects): the registered watchers (cases.signals.subject_watches) are
    asked in the same statement whether someone watches one of them; `case.subjects_watched` says.

    The ORM twin is `case_number_next` + ``Case.objects.create`` (what other databases run); the
    number is formatted as ``f"{year}/{last:06d}"``.
    """
    from .signals import subject_watches

    watches = tuple(subject_watches) if fiscal_codes else ()
    sql, fields = _case_insert_sql(tuple(w.sql for w in watches))
    params: list[Any] = []
    for f in fields:
        if f.name == "number":
            params.append(str(year))
        elif f.name == "subjects_watched" and watches:
            for _watch in watches:
                params += [case.tenant_id, list(fiscal_codes)]
        else:
            params.append(f.get_db_prep_save(f.pre_save(case, True), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, [case.tenant_id, year, *params])
        case.pk, case.number, instance_id, case.subjects_watched = cursor.fetchone()
    case._state.adding = False
    case._state.db = connection.alias
    return int(instance_id)


@functools.cache
def _complete_item_sql() -> str:
    from accounts.models import User

    q = connection.ops.quote_name
    actor = f"(SELECT u.{q('id')} FROM {q(User._meta.db_table)} u WHERE u.{q('username')} = %s LIMIT 1)"
    return (
        f"UPDATE {q(WorkItem._meta.db_table)} SET {q('status')} = %s, {q('completed_at')} = %s, "
        f"{q('completed_by_id')} = {actor} "
        f"WHERE {q('case_id')} = %s AND {q('task_id')} = %s AND {q('status')} = %s "
        f"AND ({q('assignee_id')} IS NULL OR {q('assignee_id')} = {actor})"
    )


def work_item_complete_sql(*, case_id: int, task_id: str, username: str, now: dt.datetime) -> tuple[str, tuple[Any, ...]]:
    """Mark the person's work item completed, only if it is still open and unassigned or theirs
    (a claim locks the work item alone, so one may land while the completion runs): not executed.

    The ORM twin: ``WorkItem.objects.filter(case_id=..., task_id=..., status="open").filter(
    Q(assignee_id__isnull=True) | Q(assignee_id=<user by username>)).update(...)``.
    """
    from .models import WorkItemStatus

    completed_at = WorkItem._meta.get_field("completed_at").get_db_prep_save(now, connection)
    return _complete_item_sql(), (
        WorkItemStatus.COMPLETED, completed_at, username, case_id, task_id, WorkItemStatus.OPEN, username,
    )


@functools.cache
def _insert_sql(model: Any, rows: int) -> str:
    q = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    row = f"({', '.join(['%s'] * len(fields))})"
    return (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * rows)}"
    )


@functools.cache
def _case_update_sql(names: tuple[str, ...], close: bool) -> str:
    q = connection.ops.quote_name
    table = q(Case._meta.db_table)
    assignments = [f"{q(Case._meta.get_field(name).column)} = %s" for name in names]
    if close:  # as the ORM's Case(When(...)): both read the row's status before this UPDATE
        status, closed_at = q("status"), q("closed_at")
        assignments += [f"{status} = CASE WHEN {status} = %s THEN %s ELSE {status} END",
                        f"{closed_at} = CASE WHEN {status} = %s THEN %s ELSE {closed_at} END"]
    return f"UPDATE {table} SET {', '.join(assignments)} WHERE {table}.{q('id')} = %s"


def case_update_sql(case_id: int, *, close_if_open: dt.datetime | None = None, **values: Any) -> tuple[str, tuple[Any, ...]]:
    """``UPDATE`` of one case row, not executed: its text built once per set of columns when every
    value is plain (values prepared by each field, as the ORM's UPDATE prepares them); with an
    expression among them (an EXISTS), the ORM's own statement (`update_sql`).

    `close_if_open`: the process ended: an open case closes at that time (a case cancelled or
    closed meanwhile keeps its status and time)."""
    from .models import CaseStatus

    if any(hasattr(value, "resolve_expression") for value in values.values()):
        if close_if_open is not None:
            from django.db.models import Case as DbCase
            from django.db.models import F, Value, When

            values["status"] = DbCase(When(status=CaseStatus.OPEN, then=Value(CaseStatus.CLOSED)), default=F("status"))
            values["closed_at"] = DbCase(When(status=CaseStatus.OPEN, then=Value(close_if_open)), default=F("closed_at"))
        return update_sql(Case.objects.filter(pk=case_id), **values)
    conn = connections[DEFAULT_DB_ALIAS]
    params = [Case._meta.get_field(name).get_db_prep_save(value, conn) for name, value in values.items()]
    if close_if_open is not None:
        closed_at = Case._meta.get_field("closed_at").get_db_prep_save(close_if_open, conn)
        params += [CaseStatus.OPEN, CaseStatus.CLOSED, CaseStatus.OPEN, closed_at]
    return _case_update_sql(tuple(values), close_if_open is not None), (*params, case_id)


def update_sql(qs: QuerySet, **values: Any) -> tuple[str, tuple[Any, ...]]:
    """The SQL of `qs.update(**values)`, not executed."""
    from django.db.models import sql

    query = qs.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    return query.get_compiler(qs.db).as_sql()


def insert_sql(objs: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SQL of inserting `objs` (one model, no primary keys wanted back), not executed.

    The statement text is built once per model and row count; the values are prepared by each
    field, as the ORM's INSERT prepares them.
    """
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the proxy each field would ask
    params = [f.get_db_prep_save(f.pre_save(obj, True), conn) for obj in objs for f in fields]
    return _insert_sql(model, len(objs)), tuple(params)


class Returning:
    """Boolean SQL expressions over the rows the LAST statement of `execute_together` changes, asked back
    by that statement (``RETURNING``): `values[name]` is true when any changed row makes it true (None:
    no row changed). Each expression: (SQL, parameters)."""

    def __init__(self, **expressions: tuple[str, Sequence[Any]]) -> None:
        self.expressions = expressions
        self.values: dict[str, bool | None] = dict.fromkeys(expressions)

    def clause(self, *, named: bool) -> tuple[str, list[Any]]:
        parts, params = [], []
        for name, (sql, sql_params) in self.expressions.items():
            parts.append(f"({sql}) AS r_{name}" if named else f"({sql})")
            params.extend(sql_params)
        return ", ".join(parts), params


def execute_together(statements: Sequence[tuple[str, Sequence[Any]]], *, tail: Any = None,
                     returning: Returning | None = None) -> list[int]:
    """Run data-modifying statements; how many rows each changed.

    On PostgreSQL they go in one round trip as data-modifying CTEs (they see the same snapshot and
    none sees another's changes: the caller passes statements that touch different rows); on
    other databases one by one.

    `tail` (PostgreSQL only): more CTEs to carry in the same statement, an object with `ctes`,
    `params`, `result` (the CTE whose row is wanted) and `columns` (audit.services.FoldedAppend);
    its row (or None) is then handed to `tail.row`.

    `returning`: boolean expressions over the rows the last statement changes, read back by the
    same statement (``RETURNING``) into `returning.values`.
    """
    if not statements and tail is None:
        return []
    last = len(statements) - 1
    if connection.vendor != "postgresql" or (len(statements) == 1 and tail is None and returning is None):
        assert tail is None, "a tail is folded on PostgreSQL only"
        counts = []
        with connection.cursor() as cursor:
            for index, (statement, params) in enumerate(statements):
                if returning is not None and index == last:
                    clause, clause_params = returning.clause(named=False)
                    cursor.execute(f"{statement} RETURNING {clause}", [*params, *clause_params])
                    rows = cursor.fetchall()
                    for column, name in enumerate(returning.values):
                        returning.values[name] = any(bool(r[column]) for r in rows) if rows else None
                    counts.append(len(rows))
                else:
                    cursor.execute(statement, params)
                    counts.append(cursor.rowcount)
        return counts
    parts, params, selects = [], [], []
    for index, (statement, stmt_params) in enumerate(statements):
        back, back_params = returning.clause(named=True) if returning is not None and index == last else ("1", [])
        parts.append(f"s{index} AS ({statement} RETURNING {back})")
        params.extend(stmt_params)
        params.extend(back_params)
        selects.append(f"(SELECT count(*) FROM s{index})")
    if returning is not None:
        selects.extend(f"(SELECT bool_or(r_{name}) FROM s{last})" for name in returning.values)
    source = ""
    if tail is not None:
        parts.append(tail.ctes)
        params.extend(tail.params)
        selects.extend(f"t.{column}" for column in tail.columns)
        # No row from the tail leaves its columns NULL; the counts come anyway.
        source = f" FROM (SELECT 1) AS one LEFT JOIN {tail.result} AS t ON true"
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(selects)}{source}", params)
        row = cursor.fetchone()
    n = len(statements)
    if returning is not None:
        for name in returning.values:
            returning.values[name] = row[n]
            n += 1
    if tail is not None:
        tail.row = tuple(row[n:])
    return [int(c) for c in row[: len(statements)]]
