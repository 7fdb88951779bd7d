"""Parsers on fixtures that reproduce the real pages' layouts and quirks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tasks.deprecations.parsing import parse_date, split_ids
from tasks.deprecations.sources import SourceFormatError, litellm_feed, local_feed, parse_page

FIXTURES = Path(__file__).resolve().parents[3] / "examples" / "deprecations"


def by_id(notices):
    return {n.model_id: n for n in notices}


def test_openai_markdown_page() -> None:
    notices = by_id(parse_page((FIXTURES / "openai.md").read_text(), "openai", "openai=fixture"))
    mini = notices["gpt-4o-mini-2024-07-18"]
    assert (mini.shutdown_date, mini.date_kind, mini.replacement, mini.announced) == \
        (date(2027, 3, 31), "exact", "gpt-5-mini", date(2026, 9, 15))  # non-breaking hyphens, footnote
    assert notices["gpt-4o-mini"].shutdown_date == date(2027, 3, 31)  # escaped pipe between aliases
    emb = notices["text-embedding-3-small"]
    assert emb.shutdown_date is None and emb.date_kind == "floor" and emb.not_before == date(2027, 10, 1)
    assert "text-embedding-ada-002" in notices  # "a or b"
    assert notices["chatgpt-4o-latest"].shutdown_date == date(2026, 2, 17)  # "Feb 17, 2026", "Substitute model"
    assert notices["gpt-4-0613"].shutdown_date is None and notices["gpt-4-0613"].date_kind == "unknown"  # TBA
    assert not any("Assistants" in n.model_id for n in notices.values())  # not about a model


def test_openai_html_page_parses_the_same() -> None:
    html = """<html><body><h2>Deprecation history</h2>
    <h3>2026&#8209;09&#8209;15: gpt-4o-mini snapshots</h3>
    <table><thead><tr><th>Shutdown date</th><th>Model / system</th><th>Recommended replacement</th></tr></thead>
    <tbody><tr><td>2027&#8209;03&#8209;31</td><td><code>gpt-4o-mini-2024-07-18</code><br><code>gpt-4o-mini</code></td>
    <td><code>gpt-5-mini</code><sup>1</sup></td></tr>
    <tr><td>Not before Oct 1, 2027</td><td>text-embedding-3-small</td><td>text-embedding-3-large</td></tr></tbody></table>
    </body></html>"""
    notices = by_id(parse_page(html, "openai", "openai=html"))
    assert notices["gpt-4o-mini-2024-07-18"].shutdown_date == date(2027, 3, 31)
    assert notices["gpt-4o-mini"].announced == date(2026, 9, 15)
    assert notices["text-embedding-3-small"].date_kind == "floor"


def test_anthropic_status_and_history_tables() -> None:
    notices = by_id(parse_page((FIXTURES / "anthropic.md").read_text(), "anthropic", "anthropic=fixture"))
    sonnet = notices["claude-sonnet-4-5-20250929"]
    assert (sonnet.shutdown_date, sonnet.replacement, sonnet.announced) == \
        (date(2026, 11, 30), "claude-sonnet-5-20260915", date(2026, 10, 1))
    assert notices["claude-sonnet-4-20250514"].date_kind == "floor"
    assert notices["claude-3-opus-20240229"].removed
    assert notices["claude-3-opus-20240229"].replacement == "claude-opus-4-1-20250805 or a newer Opus model"
    assert "claude-opus-4-1-20250805" not in notices and "claude-haiku-4-5-20251001" not in notices  # active


@pytest.mark.parametrize("text", ["Not sooner than March 1, 2027", "Not before 2027-03-01", "2027-03-01 at earliest",
                                  "no earlier than Mar 1, 2027"])
def test_floors_are_never_shutdown_dates(text: str) -> None:
    parsed = parse_date(text)
    assert parsed.kind == "floor" and parsed.exact is None and parsed.floor == date(2027, 3, 1)


@pytest.mark.parametrize("text", ["To be announced", "TBD", "N/A", "---", "—", "", "Soon", "later this year"])
def test_placeholders_are_unknown(text: str) -> None:
    assert parse_date(text).kind == "unknown"


def test_id_cells() -> None:
    assert split_ids("`a-1` \\| `a-1-2024-01-01`") == ["a-1", "a-1-2024-01-01"]
    assert split_ids("[gpt-4-0314](https://x) or gpt-4-32k-0314*") == ["gpt-4-0314", "gpt-4-32k-0314"]
    assert split_ids("Fine-tuning API for babbage") == []


def test_a_page_that_no_longer_parses_fails() -> None:
    with pytest.raises(SourceFormatError):
        parse_page("# Deprecations\n\nWe moved this page. See the new docs.\n", "openai", "openai=x")
    with pytest.raises(SourceFormatError):
        parse_page("| Name | Owner |\n|---|---|\n| a | b |\n", "openai", "openai=x")


def test_litellm_and_local_feed(tmp_path: Path) -> None:
    notices = by_id(litellm_feed(str(FIXTURES / "litellm.json"), set()))
    assert notices["anthropic.claude-3-5-sonnet-20240620-v1:0"].provider == "bedrock"
    assert "text-embedding-3-small" not in notices and "sample_spec" not in notices
    feed = by_id(local_feed(str(FIXTURES / "feed.yaml"), set()))
    assert feed["lead-3-v1"].shutdown_date == date(2027, 6, 30) and feed["lead-3-v1"].replacement == "lead-3-v2"
    bad = tmp_path / "bad.json"
    bad.write_text("<html>rate limited</html>")
    with pytest.raises(SourceFormatError):
        litellm_feed(str(bad), set())
