"""The A/B aggregation as one dialect-neutral SQL statement: request log -> per-user sufficient statistics.

``user_stats_sql`` renders the statement for one experiment and window. It reads a relation
``requests`` with the request-log columns (``experiment_id, variant, user_id, model, timestamp,
latency_ms, cost_usd, error, input_tokens, output_tokens``, numbers as numbers) and, when the
feedback comes from a separate table, ``feedback`` (``request_id, timestamp, quality_score,
thumbs_up``; the latest row per ``request_id`` wins); otherwise ``requests`` carries
``quality_score`` and ``thumbs_up`` itself. It uses only standard SQL (CTEs, CASE, COALESCE,
COUNT/SUM/MIN, ROW_NUMBER() OVER, LEFT JOIN, TIMESTAMP literals), so the same text runs in DuckDB
(where modelctl runs it), Athena/Trino, BigQuery and Snowflake; its output, saved as CSV or
Parquet, is what ``modelctl ab analyze --stats FILE`` reads.

Output: one row per (variant, user) of the experiment — ``n`` requests, the sums ``latency, cost,
errors``, the sums and non-null counts ``q_sum/q_n`` (quality), ``t_sum/t_n`` (thumbs up) and
``tok_sum/tok_n`` (input + output tokens), ``first_exposure``, ``arms`` (in how many arms the user
was seen: 2 is a user who switched, or a routing bug) — and the same sums of that user's
pre-period traffic (rows with an empty variant) as ``pre_*`` (null when the user has none), with
``pre_users``, the number of users with any pre-period traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SUMS = ("n", "latency", "cost", "errors", "q_sum", "q_n", "t_sum", "t_n", "tok_sum", "tok_n")
OUTPUT_COLUMNS = ("variant", "user_id", *SUMS, "first_exposure", "arms", *(f"pre_{s}" for s in SUMS), "pre_users")


@dataclass(frozen=True)
class Filters:
    """Which rows count (all optional): the experiment and its window, the pre-period and its model."""

    experiment_id: str | None = None
    since: datetime | None = None
    pre_start: datetime | None = None
    pre_end: datetime | None = None
    model: str | None = None


def literal(value: str) -> str:
    """A standard SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def timestamp_literal(when: datetime) -> str:
    """``TIMESTAMP 'YYYY-MM-DD HH:MM:SS.ffffff'`` in UTC."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f"TIMESTAMP '{aware.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def row_conditions(filters: Filters) -> tuple[str, str]:
    """The SQL conditions (on alias ``r``) of an experiment row and of a pre-period row."""
    arm = ["r.variant IN ('control', 'treatment')"]
    if filters.experiment_id is not None:
        arm.append(f"r.experiment_id = {literal(filters.experiment_id)}")
    if filters.since is not None:
        arm.append(f"r.timestamp >= {timestamp_literal(filters.since)}")
    pre = ["(r.variant IS NULL OR r.variant = '')"]
    if filters.model is not None:
        pre.append(f"r.model = {literal(filters.model)}")
    if filters.pre_start is not None:
        pre.append(f"r.timestamp >= {timestamp_literal(filters.pre_start)}")
    if filters.pre_end is not None:
        pre.append(f"r.timestamp < {timestamp_literal(filters.pre_end)}")
    return " AND ".join(arm), " AND ".join(pre)


def user_stats_sql(filters: Filters, *, feedback_table: bool = True, first_exposure: bool = True,
                   pre_period: bool = True) -> str:
    """The statement (see the module docstring); ``feedback_table`` joins ``feedback`` by request_id.

    The documented form has every option on. An engine that knows more may render less: without
    ``first_exposure`` that column is NULL (the timestamp is not read); without ``pre_period`` (the
    input has no rows outside an arm) the per-user rows come straight from the first aggregation,
    ``arms`` and the ``pre_*`` columns NULL (a user in both arms is then found by matching ids).
    """
    arm, pre = row_conditions(filters)
    if feedback_table:
        latest = """latest_feedback AS (
  SELECT request_id, quality_score, thumbs_up
  FROM (
    SELECT request_id, quality_score, thumbs_up,
           ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY timestamp DESC) AS recency
    FROM feedback
  ) ranked
  WHERE recency = 1
),
"""
        scores = ("f.quality_score AS quality_score,\n"
                  "         CASE WHEN f.thumbs_up THEN 1 WHEN NOT f.thumbs_up THEN 0 END AS thumbs_up")
        join = "\n  LEFT JOIN latest_feedback f ON f.request_id = r.request_id"
    else:
        latest, join = "", ""
        scores = "r.quality_score AS quality_score, r.thumbs_up AS thumbs_up"
    sums = ",\n         ".join((
        "COUNT(*) AS n", "SUM(COALESCE(latency_ms, 0)) AS latency", "SUM(COALESCE(cost_usd, 0)) AS cost",
        "SUM(COALESCE(error, 0)) AS errors", "SUM(quality_score) AS q_sum", "COUNT(quality_score) AS q_n",
        "SUM(thumbs_up) AS t_sum", "COUNT(thumbs_up) AS t_n", "SUM(tokens) AS tok_sum", "COUNT(tokens) AS tok_n"))
    first = "MIN(timestamp) AS first_exposure" if first_exposure else "CAST(NULL AS TIMESTAMP) AS first_exposure"
    pre_cols = ",\n       ".join(f"p.{s} AS pre_{s}" for s in SUMS)
    arm_cols = ", ".join(f"a.{s}" for s in SUMS)
    head = f"""WITH {latest}selected AS (
  SELECT CASE WHEN r.variant IN ('control', 'treatment') THEN r.variant ELSE '' END AS bucket,
         r.user_id, r.timestamp, r.latency_ms, r.cost_usd, r.error,
         {scores},
         r.input_tokens + r.output_tokens AS tokens
  FROM requests r{join}
  WHERE r.user_id IS NOT NULL
    AND (({arm})
      OR ({pre}))
),
per_user AS (
  SELECT bucket, user_id,
         {sums},
         {first}
  FROM selected
  GROUP BY bucket, user_id
)"""
    if not pre_period:  # every selected row is an arm's: the variant itself is the bucket
        nulls = ", ".join(f"CAST(NULL AS BIGINT) AS pre_{s}" for s in SUMS)
        head = head.replace("CASE WHEN r.variant IN ('control', 'treatment') THEN r.variant ELSE '' END AS bucket",
                            "r.variant AS bucket")
        return (head.replace("\n      OR ({pre})", "").replace(f"\n      OR ({pre}))", ")")
                + f"\nSELECT bucket AS variant, user_id, {', '.join(SUMS)}, first_exposure, "
                f"CAST(NULL AS BIGINT) AS arms, {nulls}, 0 AS pre_users\nFROM per_user")
    return head + f""",
in_arms AS (
  SELECT per_user.*, COUNT(*) OVER (PARTITION BY user_id) AS arms
  FROM per_user
  WHERE bucket <> ''
),
pre_period AS (
  SELECT * FROM per_user WHERE bucket = ''
)
SELECT a.bucket AS variant, a.user_id, {arm_cols}, a.first_exposure, a.arms,
       {pre_cols},
       (SELECT COUNT(*) FROM pre_period) AS pre_users
FROM in_arms a
LEFT JOIN pre_period p ON p.user_id = a.user_id"""


def user_arms_sql(filters: Filters, *, attribute: bool, pre_period: bool, relation: str = "requests") -> str:
    """The engine's form of the statement: one row per user (no user id) with ``arm`` (0 control,
    1 treatment, 2 seen in both arms and not attributed), the kept arm's sums (``SUMS``), ``dropped``
    (requests of the other arm, left out by first-exposure attribution) and ``pre_*``.

    Same semantics as ``user_stats_sql``; ``attribute``: a user in both arms is kept in the arm of first
    exposure (a tie goes to control) with that arm's sums. The rows are first summed per (bucket, user) —
    the plain query's grouping, whose bucket is a dictionary-encoded variant — and only the few users with
    more than one cell are resolved afterwards: grouping the rows by user with a FILTER per arm cost 1.5x.
    """
    arm, pre = row_conditions(filters)
    bucket = f"CASE WHEN COALESCE({arm}, false) THEN r.variant ELSE '' END" if pre_period else "r.variant"
    first = ", MIN(r.timestamp) AS first_at" if attribute else ""
    cells = f"""SELECT {bucket} AS bucket, r.user_id, COUNT(*) AS n, SUM(COALESCE(r.latency_ms, 0)) AS latency,
         SUM(COALESCE(r.cost_usd, 0)) AS cost, SUM(COALESCE(r.error, 0)) AS errors,
         SUM(r.quality_score) AS q_sum, COUNT(r.quality_score) AS q_n, SUM(r.thumbs_up) AS t_sum,
         COUNT(r.thumbs_up) AS t_n, SUM(r.input_tokens + r.output_tokens) AS tok_sum,
         COUNT(r.input_tokens + r.output_tokens) AS tok_n{first}
  FROM {relation} r
  WHERE r.user_id IS NOT NULL AND (({arm}){f" OR ({pre})" if pre_period else ""})
  GROUP BY ALL"""
    firsts = (", MIN(first_at) FILTER (WHERE bucket = 'control') AS c_first, "
              "MIN(first_at) FILTER (WHERE bucket = 'treatment') AS t_first") if attribute else ""
    to_t = "COALESCE(m.t_first < m.c_first, false)"
    if attribute:
        arm_code, keep = f"CASE WHEN {to_t} THEN 1 ELSE 0 END", f"(a.bucket = 'treatment') = {to_t}"
    else:
        arm_code, keep = "2", "a.bucket = 'control'"
    dropped = ("CASE WHEN m.user_id IS NULL THEN 0 WHEN a.bucket = 'treatment' THEN m.c_n ELSE m.t_n END"
               if attribute else "0")
    sums = ", ".join(f"COALESCE(a.{s}, 0) AS {s}" for s in SUMS)
    pre_out = (", " + ", ".join(f"COALESCE(p.{s}, 0) AS pre_{s}" for s in SUMS)) if pre_period else ""
    pre_join = "\nLEFT JOIN cells p ON p.user_id = a.user_id AND p.bucket = ''" if pre_period else ""
    return f"""WITH cells AS (
  {cells}
), multi AS (
  SELECT user_id, SUM(n) FILTER (WHERE bucket = 'control') AS c_n,
         SUM(n) FILTER (WHERE bucket = 'treatment') AS t_n{firsts}
  FROM cells WHERE bucket <> '' GROUP BY user_id HAVING COUNT(*) > 1
)
SELECT CASE WHEN m.user_id IS NULL THEN CASE WHEN a.bucket = 'treatment' THEN 1 ELSE 0 END ELSE {arm_code} END AS arm,
       {sums}, {dropped} AS dropped{pre_out}
FROM cells a LEFT JOIN multi m ON m.user_id = a.user_id{pre_join}
WHERE a.bucket <> '' AND (m.user_id IS NULL OR {keep})"""
