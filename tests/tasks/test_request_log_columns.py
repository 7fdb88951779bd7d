"""The request log's optional columns (ttft_ms, abandoned, tool_names) and files written before them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry.service import open_registry
from tasks.gateway import AsyncGateway
from tasks.request_log import REQUEST_FIELDS, RequestLogWriter, compact, load_requests
from tests.tasks.providers.fakes import FakeProvider, anthropic_message


def test_parquet_compacted_before_the_optional_columns_still_reads(tmp_path: Path) -> None:
    old = [(n, t) for n, t in REQUEST_FIELDS if n not in ("ttft_ms", "abandoned", "tool_names")]
    table = pa.table({"timestamp": pa.array([0], pa.timestamp("us", tz="UTC")), "request_id": ["r-1"],
                      "model": ["triage"], "latency_ms": [12.5]}).cast(
        pa.schema([(n, t) for n, t in old if n in ("timestamp", "request_id", "model", "latency_ms")]))
    for name, kind in old:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(1, kind))
    day = tmp_path / "logs" / "requests" / "date=1970-01-01"
    day.mkdir(parents=True)
    pq.write_table(table, day / "compacted-old.parquet")
    frame = load_requests(str(tmp_path / "logs"))
    assert list(frame["request_id"]) == ["r-1"] and frame["ttft_ms"].isna().all()


def test_new_columns_survive_compaction(tmp_path: Path) -> None:
    uri = str(tmp_path / "logs")
    writer = RequestLogWriter(uri, flush_interval=60)
    writer.append("requests", {"timestamp": "2026-01-02T00:00:00Z", "request_id": "r-2", "model": "m",
                               "ttft_ms": 3.5, "abandoned": 1, "tool_names": "lookup_order,search"})
    writer.close()
    compact(uri, quiet_seconds=0)
    row = load_requests(uri).iloc[0]
    assert (row["ttft_ms"], row["abandoned"], row["tool_names"]) == (3.5, 1, "lookup_order,search")


def test_async_stream_abandoned_through_anthropic(tmp_path: Path, anthropic_env: FakeProvider) -> None:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("writer", {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929", "max_tokens": 200,
                            "pricing": {"input_per_1m": 3, "output_per_1m": 15}})
    reg.record_eval("writer", 1, suite="s", passed=True)
    reg.promote("writer", 1, "production", reason="test")
    anthropic_env.script.append((200, anthropic_message("word " * 60), {}, 0.0))
    anthropic_env.chunk_delay = 0.05
    logs = str(tmp_path / "logs")
    agw = AsyncGateway(uri, writer=RequestLogWriter(logs, flush_interval=60))

    async def read_one() -> str:
        async with agw.stream("writer", [{"role": "user", "content": "write a lot"}]) as chunks:
            async for text in chunks:
                return text
        return ""

    async def main() -> str:
        first = await read_one()
        await agw.aclose()
        return first

    first = asyncio.run(main())
    row = load_requests(logs).iloc[0]
    assert first and row["abandoned"] == 1 and row["error"] == 0 and row["output_tokens"] >= 1
    assert row["cost_usd"] == pytest.approx(row["output_tokens"] * 15 / 1e6)
