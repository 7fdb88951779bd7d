"""A/B input: a request log (or any CSV / Parquet / JSONL table) reduced to per-user sufficient statistics.

Columns: ``experiment_id, variant (control|treatment), user_id, timestamp, latency_ms, cost_usd,
quality_score, thumbs_up, error`` (``quality_score`` and ``thumbs_up`` empty where there is no feedback).
Files are read column-wise in batches and aggregated per (variant, user) with pyarrow; rows never
become Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput
from tasks.ab.validate import validate_table

REQUIRED = ["variant", "user_id", "latency_ms", "cost_usd", "error"]
OPTIONAL = ["experiment_id", "quality_score", "thumbs_up"]
ARMS = ("control", "treatment")
SUMS = [("n", "latency_ms", "count"), ("latency", "latency_ms", "sum"), ("cost", "cost_usd", "sum"),
        ("errors", "error", "sum"), ("q_sum", "quality_score", "sum"), ("q_n", "quality_score", "count"),
        ("t_sum", "thumbs_up", "sum"), ("t_n", "thumbs_up", "count")]


@dataclass
class ArmData:
    """Per-user sums of one arm (aligned arrays, one entry per user) and its request latencies."""

    users: np.ndarray
    n: np.ndarray
    latency: np.ndarray
    cost: np.ndarray
    errors: np.ndarray
    q_sum: np.ndarray
    q_n: np.ndarray
    t_sum: np.ndarray
    t_n: np.ndarray
    latencies: np.ndarray  # request level, for median / p95
    mixed_users: int = 0  # users seen in both arms (a data problem)

    @property
    def user_count(self) -> int:
        return int(len(self.users))


def _normalise(batch: pa.RecordBatch | pa.Table, experiment_id: str | None, source: str) -> pa.Table:
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED + OPTIONAL)}",
                           file=source, field=missing[0])
    if experiment_id is not None and "experiment_id" in table.column_names:
        table = table.filter(pc.equal(table["experiment_id"].cast(pa.string()), experiment_id))
    validate_table(table, source)
    cols = {
        "variant": table["variant"].cast(pa.string()),
        "user_id": table["user_id"].cast(pa.string()),
        "latency_ms": table["latency_ms"].cast(pa.float64()),
        "cost_usd": table["cost_usd"].cast(pa.float64()),
        "error": table["error"].cast(pa.float64()),
    }
    for name in ("quality_score", "thumbs_up"):
        if name in table.column_names:
            col = table[name]
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                lowered = pc.utf8_lower(col)
                col = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", col))
                col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
            cols[name] = col.cast(pa.float64())
        else:
            cols[name] = pa.nulls(len(table), pa.float64())
    return pa.table(cols)


def _batches(source: str, experiment_id: str | None) -> Iterator[pa.Table]:
    if source.endswith(".parquet") and not source.startswith("s3://"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(source)
        wanted = [c for c in REQUIRED + OPTIONAL if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=2_000_000, columns=wanted):
            yield _normalise(batch, experiment_id, source)
    elif source.endswith(".csv"):
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(source, read_options=pcsv.ReadOptions(block_size=64 << 20),
                               convert_options=pcsv.ConvertOptions(
                                   include_columns=None, strings_can_be_null=True,
                                   column_types={"user_id": pa.string(), "quality_score": pa.float64(),
                                                 "thumbs_up": pa.string()}))
        for batch in reader:
            yield _normalise(batch, experiment_id, source)
    elif source.endswith((".jsonl", ".json")):
        import pyarrow.json as pj

        yield _normalise(pj.read_json(source), experiment_id, source)
    else:
        from tasks.request_log import load_requests

        frame = load_requests(source, experiment_id=experiment_id,
                              columns=["experiment_id", "variant", "user_id", "latency_ms", "cost_usd", "error",
                                       "quality_score", "thumbs_up"])
        yield _normalise(pa.Table.from_pandas(frame, preserve_index=False), experiment_id, source)


def _parquet_arms(source: str, experiment_id: str | None) -> dict[str, ArmData]:
    """Parquet fast path: user ids dictionary-encoded once, then per-user sums by ``numpy.bincount``
    over the numeric columns streamed row group by row group."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(source)
    names = pf.schema_arrow.names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED + OPTIONAL)}",
                           file=source, field=missing[0])
    filter_on = experiment_id is not None and "experiment_id" in names
    keys = pf.read(columns=["user_id", "variant", *(["experiment_id"] if filter_on else [])])
    validate_table(keys, source)
    encoded = pc.dictionary_encode(keys["user_id"].cast(pa.string()).combine_chunks())
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    users = len(encoded.dictionary)
    variant = keys["variant"].cast(pa.string())
    unknown = set(pc.unique(variant).to_pylist()) - set(ARMS) - {None}
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(map(str, unknown))}; expected control or treatment",
                           file=source, field="variant")
    treated = pc.equal(variant, "treatment").to_numpy(zero_copy_only=False).astype(bool)
    keep = (pc.equal(keys["experiment_id"].cast(pa.string()), experiment_id).to_numpy(zero_copy_only=False)
            .astype(bool) if filter_on else None)
    del keys, encoded, variant
    sums = {name: np.zeros(users) for name in ("n", "latency", "cost", "errors", "q_sum", "q_n", "t_sum", "t_n",
                                               "treated")}
    lat_parts: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    wanted = ["latency_ms", "cost_usd", "error", *[c for c in ("quality_score", "thumbs_up") if c in names]]
    offset = 0
    for group in range(pf.num_row_groups):
        table = pf.read_row_group(group, columns=wanted)
        validate_table(table, source, offset)
        rows = table.num_rows
        sel = slice(offset, offset + rows)
        offset += rows
        i, flag = idx[sel], treated[sel]
        mask = keep[sel] if keep is not None else None

        def col(name: str, table: pa.Table = table) -> np.ndarray:
            if name not in table.column_names:
                return np.full(table.num_rows, np.nan)
            return table[name].cast(pa.float64()).to_numpy(zero_copy_only=False)

        lat, cost, err, q, t = col("latency_ms"), col("cost_usd"), col("error"), col("quality_score"), col("thumbs_up")
        if mask is not None:
            i, flag, lat, cost, err, q, t = i[mask], flag[mask], lat[mask], cost[mask], err[mask], q[mask], t[mask]
        sums["n"] += np.bincount(i, minlength=users)
        sums["treated"] += np.bincount(i, weights=flag.astype(float), minlength=users)
        sums["latency"] += np.bincount(i, weights=lat, minlength=users)
        sums["cost"] += np.bincount(i, weights=cost, minlength=users)
        sums["errors"] += np.bincount(i, weights=err, minlength=users)
        for value, total, count in ((q, "q_sum", "q_n"), (t, "t_sum", "t_n")):
            ok = ~np.isnan(value)
            sums[total] += np.bincount(i[ok], weights=value[ok], minlength=users)
            sums[count] += np.bincount(i[ok], minlength=users)
        lat_parts["treatment"].append(lat[flag].astype(np.float32))
        lat_parts["control"].append(lat[~flag].astype(np.float32))
    present = sums["n"] > 0
    mixed = present & (sums["treated"] > 0) & (sums["treated"] < sums["n"])
    out = {}
    for arm, member in (("control", present & (sums["treated"] == 0)), ("treatment", present & (sums["treated"] == sums["n"]))):
        out[arm] = ArmData(users=np.flatnonzero(member), n=sums["n"][member], latency=sums["latency"][member],
                           cost=sums["cost"][member], errors=sums["errors"][member], q_sum=sums["q_sum"][member],
                           q_n=sums["q_n"][member], t_sum=sums["t_sum"][member], t_n=sums["t_n"][member],
                           latencies=np.concatenate(lat_parts[arm]) if lat_parts[arm] else np.array([], np.float32),
                           mixed_users=int(mixed.sum()))
    return out


def load_arms(source: str, experiment_id: str | None = None) -> dict[str, ArmData]:
    """Stream ``source`` and return per-user sufficient statistics for control and treatment."""
    try:
        return _load_arms(source, experiment_id)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"unreadable table: {str(exc).splitlines()[0]}", file=source) from exc


def _load_arms(source: str, experiment_id: str | None) -> dict[str, ArmData]:
    if "://" not in source and not Path(source).exists():
        raise InvalidInput("file not found", file=source)
    if source.endswith(".parquet") and "://" not in source:
        return _parquet_arms(source, experiment_id)
    partials: list[pa.Table] = []
    latencies: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    for table in _batches(source, experiment_id):
        if table.num_rows == 0:
            continue
        unknown = set(pc.unique(table["variant"]).to_pylist()) - set(ARMS)
        if unknown:
            raise InvalidInput(f"unknown variant(s) {sorted(map(str, unknown))}; expected control or treatment",
                               file=source, field="variant")
        agg = table.group_by(["variant", "user_id"]).aggregate([(c, f) for _, c, f in SUMS])
        partials.append(agg)
        for arm in ARMS:
            lat = table.filter(pc.equal(table["variant"], arm))["latency_ms"]
            latencies[arm].append(lat.to_numpy(zero_copy_only=False).astype(np.float32))
    if not partials:
        return {arm: _empty() for arm in ARMS}
    merged = pa.concat_tables(partials)
    if len(partials) > 1:
        merged = merged.group_by(["variant", "user_id"]).aggregate([(f"{c}_{f}", "sum") for _, c, f in SUMS])
    out = {}
    for arm in ARMS:
        part = merged.filter(pc.equal(merged["variant"], arm))
        arrays = {alias: _col(part, f"{c}_{f}") for alias, c, f in SUMS}
        out[arm] = ArmData(users=part["user_id"].to_numpy(zero_copy_only=False), **arrays,  # type: ignore[arg-type]
                           latencies=np.concatenate(latencies[arm]) if latencies[arm] else np.array([], np.float32))
    return out


def _col(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:  # after the merge of partial aggregates: "<name>_sum"
        name = f"{name}_sum"
    return np.nan_to_num(table[name].to_numpy(zero_copy_only=False).astype(np.float64))


def _empty() -> ArmData:
    z = np.array([], dtype=np.float64)
    return ArmData(np.array([], dtype=object), z, z, z, z, z, z, z, z, np.array([], np.float32))
