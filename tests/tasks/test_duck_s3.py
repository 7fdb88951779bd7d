"""``s3://`` reads through DuckDB's Python filesystem bridge (``tasks.duck``) against moto's S3 server.

DuckDB reads a remote file with ``seek`` then ``read`` on one shared Python file object, from several
threads at once (the external file cache fetches a file's 2 MiB blocks as parallel tasks, even at
``threads = 1``). pyarrow's ``read`` releases the GIL before it takes the file position, so another
thread's ``seek`` in between made a read at offset 0 return the bytes after 2 MiB — seen in CI as
"Failed to read 2097152 bytes from Python file at offset 0: only 929236 bytes returned".
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import boto3
import pytest

from tasks.duck import connect, s3_filesystem


def _upload(tmp_path: Path, bucket: str, name: str, data: bytes) -> str:
    local = tmp_path / name
    local.write_bytes(data)
    boto3.client("s3").upload_file(str(local), bucket, name)
    return f"s3://{bucket}/{name}"


def test_concurrent_seek_and_read_on_one_file_get_their_own_bytes(tmp_path: Path, s3_bucket: str) -> None:
    data = random.Random(7).randbytes(3_000_000)
    uri = _upload(tmp_path, s3_bucket, "blob.bin", data)
    handle = s3_filesystem().open(uri, "rb")
    wrong: list[tuple[int, int, int]] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            offset, size = rng.randrange(0, len(data)), rng.choice((1, 4096, 65536, 2_097_152))
            handle.seek(offset)
            got = handle.read(size)
            if got != data[offset:offset + size]:
                wrong.append((offset, size, len(got)))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    handle.seek(len(data) - 10)
    assert handle.read(100) == data[-10:]  # a read past the end is short, as a file's is
    assert handle.read(5) == b""
    assert handle.tell() == len(data)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_duckdb_reads_a_multi_block_s3_file_whole(tmp_path: Path, s3_bucket: str, fmt: str) -> None:
    rows = [f'{{"i": {i}, "text": "{"x" * (i % 97)}"}}' if fmt == "jsonl" else f"{i},{'x' * (i % 97)}"
            for i in range(120_000)]
    text = ("" if fmt == "jsonl" else "i,text\n") + "\n".join(rows) + "\n"
    assert len(text) > 3 * 2_097_152  # several of the external file cache's 2 MiB blocks
    uri = _upload(tmp_path, s3_bucket, f"t.{fmt}", text.encode())
    reader = "read_json_auto" if fmt == "jsonl" else "read_csv_auto"
    for _ in range(5):  # the race was timing-dependent: read the file afresh several times
        con = connect(threads=1, s3=True)
        got = con.execute(f"SELECT count(*), sum(i), sum(length(text)) FROM {reader}('{uri}')").fetchone()
        con.close()
        assert got == (120_000, sum(range(120_000)), sum(i % 97 for i in range(120_000)))
