"""The provider interface: ``Completion``, errors, retries with backoff, a shared rate limiter."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from registry.entities import ModelConfig, Pricing
from registry.errors import RegistryError
from registry.settings import FileConfig, get_settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call in a provider-neutral shape: the provider's call id, the tool name, parsed arguments."""

    id: str
    name: str
    arguments: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Completion:
    """One model answer with what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float
    request_id: str | None
    finish_reason: str | None
    model_id: str
    fingerprint: str | None = None  # what identifies the serving snapshot (OpenAI's system_fingerprint)
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One piece of a streamed answer: a text delta, or (last) the whole ``Completion`` with usage."""

    text: str = ""
    completion: Completion | None = None


TOOL_FINISH = frozenset({"tool_calls", "tool_use", "function_call"})


def finish_reason(reason: str | None) -> str | None:
    """The provider's finish reason, with tool calls named alike (``tool_call``) for every provider."""
    return "tool_call" if reason in TOOL_FINISH else reason


def parse_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """Tool-call arguments as a dict (a provider's JSON text parsed; unparsable text kept under ``_raw``)."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling, for error messages: the registered model and version."""

    model: str | None = None
    version: int | None = None

    def describe(self, config: ModelConfig) -> str:
        who = f"{self.model}@{self.version}" if self.model else "model"
        return f"{who} ({config.provider}:{config.model_id})"


class ProviderError(RegistryError):
    """A provider call failed."""

    exit_code = 5


class TransientProviderError(ProviderError):
    """429, 5xx, a timeout or a connection error, still failing after every retry."""

    exit_code = 5


class ProviderUnavailable(ProviderError):
    """The provider cannot be called at all: no API key, a rejected key. Nothing is recorded on it."""

    exit_code = 5


class PermanentProviderError(ProviderError):
    """A 4xx other than 429 (bad request, auth, unknown model): not retried."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Failure:
    """How a provider classified an exception."""

    transient: bool
    status: int | None = None
    retry_after: float | None = None
    message: str = ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms style) header value."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


_policy: list[FileConfig] = []


def retry_policy() -> FileConfig:
    """Timeouts and retry settings, read once per process (``reset_clients`` re-reads them)."""
    if not _policy:
        _policy.append(get_settings().file_config())
    return _policy[0]


def _retry_delay(exc: Exception, attempt: int, classify: Callable[[BaseException], Failure | None],
                 config: ModelConfig, ctx: CallContext) -> float:
    """Seconds to wait before retrying ``exc``; raises the ProviderError it becomes when it is final."""
    cfg = retry_policy()
    attempts = max(1, cfg.provider_max_attempts)
    failure = classify(exc)
    if failure is None:
        raise exc
    where = ctx.describe(config)
    status = f"HTTP {failure.status}: " if failure.status else ""
    if failure.status in (401, 403):
        variable = KEY_VARIABLES.get(config.provider, "the provider's credentials")
        raise ProviderUnavailable(f"{where}: the API key was refused ({status}{failure.message}); "
                                  f"check {variable}") from exc
    if not failure.transient:
        raise PermanentProviderError(f"{where} failed: {status}{failure.message}") from exc
    if attempt >= attempts:
        raise TransientProviderError(f"{where} still failing after {attempts} attempts: "
                                     f"{status}{failure.message}") from exc
    backoff = min(cfg.retry_max_seconds, cfg.retry_base_seconds * 2 ** (attempt - 1))
    delay = backoff * random.uniform(0.5, 1.0)
    if failure.retry_after is not None:
        delay = max(delay, min(failure.retry_after, cfg.retry_max_seconds))
    return delay


def with_retries(call: Callable[[], T], classify: Callable[[BaseException], Failure | None],
                 config: ModelConfig, ctx: CallContext) -> T:
    """Run ``call``; retry transient failures with exponential backoff and jitter, honouring Retry-After."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except ProviderError:
            raise
        except Exception as exc:
            time.sleep(_retry_delay(exc, attempt, classify, config, ctx))


async def async_with_retries(call: Callable[[], Awaitable[T]], classify: Callable[[BaseException], Failure | None],
                             config: ModelConfig, ctx: CallContext) -> T:
    """``with_retries`` for coroutines: the same policy, waiting with ``asyncio.sleep``."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError:
            raise
        except Exception as exc:
            await asyncio.sleep(_retry_delay(exc, attempt, classify, config, ctx))


def interrupted(exc: Exception, classify: Callable[[BaseException], Failure | None], config: ModelConfig,
                ctx: CallContext) -> ProviderError:
    """A failure in the middle of a stream (not retried: part of the answer has been delivered)."""
    failure = classify(exc)
    message = failure.message if failure else f"{type(exc).__name__}: {exc}"
    return TransientProviderError(f"{ctx.describe(config)}: the stream was interrupted: {message}")


class RateLimiter:
    """Token buckets for requests/min and tokens/min, shared by every thread of a process."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self._req = float(requests_per_minute or 0)
        self._tok = float(tokens_per_minute or 0)
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        self._stamp = now
        if self.rpm:
            self._req = min(self.rpm, self._req + elapsed * self.rpm / 60)
        if self.tpm:
            self._tok = min(self.tpm, self._tok + elapsed * self.tpm / 60)

    def acquire(self, tokens: int = 0) -> float:
        """Block until one request (and ``tokens`` tokens) may go; returns the seconds waited."""
        if not self.rpm and not self.tpm:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                self._refill(self._clock())
                need_req = 1 - self._req if self.rpm else 0.0
                want = min(float(tokens), float(self.tpm or 0))
                need_tok = want - self._tok if self.tpm else 0.0
                if need_req <= 0 and need_tok <= 0:
                    if self.rpm:
                        self._req -= 1
                    if self.tpm:
                        self._tok -= want
                    return waited
                delay = max(need_req * 60 / self.rpm if self.rpm else 0.0,
                            need_tok * 60 / self.tpm if self.tpm else 0.0)
            self._sleep(delay)
            waited += delay


KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def secret_api_key(provider: str) -> str | None:
    """The provider's key from a Prefect Secret block ``<provider>-api-key`` when its environment variable
    is unset and a Prefect API is reachable; None otherwise (the SDK then reads its own variable)."""
    import os

    variable = KEY_VARIABLES.get(provider)
    if variable is None or os.environ.get(variable):
        return None
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value() and FlowRunContext.get() is None:
        return None
    try:
        from prefect.blocks.system import Secret

        return str(Secret.load(f"{provider}-api-key").get())  # type: ignore[union-attr]
    except Exception:  # no such block: the SDK reports the missing key itself
        return None


def require_key(provider: str) -> None:
    """Fail fast, naming the variable, when a provider's API key is neither in the environment nor a Secret."""
    import os

    variable = KEY_VARIABLES.get(provider)
    if variable and not os.environ.get(variable) and not secret_api_key(provider):
        raise ProviderUnavailable(f"{provider}: no API key: set {variable} (or a Prefect Secret block "
                                  f"'{provider}-api-key')")


def aiohttp_installed() -> bool:
    """Whether the async SDK clients can use their aiohttp transport (the ``aiohttp`` extra)."""
    import importlib.util

    return importlib.util.find_spec("aiohttp") is not None


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def shared_client(provider: str, factory: Callable[[], Any]) -> Any:
    """One SDK client per provider and process (thread-safe, connection-pooled), made on first use."""
    with _clients_lock:
        if provider not in _clients:
            _clients[provider] = factory()
        return _clients[provider]


_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def loop_client(provider: str, factory: Callable[[], Any]) -> Any:
    """One async SDK client per provider and event loop (an async connection pool belongs to its loop)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:  # loops of several threads share the mapping
        per_loop = _loop_clients.setdefault(loop, {})
        if provider not in per_loop:
            per_loop[provider] = factory()
        return per_loop[provider]


async def aclose_loop_clients() -> None:
    """Close this event loop's async clients (before the loop ends, so no connection outlives it)."""
    with _clients_lock:
        clients = _loop_clients.pop(asyncio.get_running_loop(), {})
    for sdk_client in clients.values():
        close = getattr(sdk_client, "close", None)
        if close is not None:
            await close()


def reset_clients() -> None:
    """Forget the per-process SDK clients and limiters (after changing settings, and in tests)."""
    with _clients_lock:
        _clients.clear()
        _loop_clients.clear()
    with _limiters_lock:
        _limiters.clear()
    _policy.clear()


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(provider: str) -> RateLimiter:
    """The process-wide limiter of a provider (limits from MODELCTL_CONFIG ``rate_limits``)."""
    with _limiters_lock:
        if provider not in _limiters:
            limit = get_settings().file_config().rate_limits.get(provider)
            _limiters[provider] = RateLimiter(limit.requests_per_minute if limit else None,
                                              limit.tokens_per_minute if limit else None)
        return _limiters[provider]


async def acquire_async(provider: str, tokens: int) -> None:
    """The provider's limiter from a coroutine (waits in a thread only when limits are configured)."""
    limiter = limiter_for(provider)
    if limiter.rpm or limiter.tpm:
        await asyncio.to_thread(limiter.acquire, tokens)


def resolved_tools(config: ModelConfig) -> list[str | dict[str, Any]]:
    """The version's tools, names replaced by their full schemas from MODELCTL_CONFIG ``tools_file``."""
    if not config.tools:
        return []
    schemas = tool_schemas(retry_policy().tools_file)
    return [schemas.get(t, t) if isinstance(t, str) else t for t in config.tools]


_tool_files: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}


def tool_schemas(path: str | None) -> dict[str, dict[str, Any]]:
    """Tool name -> OpenAI-style function schema, from a YAML/JSON file (re-read when it changes).

    The file is a mapping ``name: {description, parameters}`` or a list of function schemas.
    """
    if not path:
        return {}
    import os

    import yaml

    key = (path, os.stat(path).st_mtime)
    if key not in _tool_files:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        items = data.items() if isinstance(data, dict) else ((None, d) for d in data)
        out: dict[str, dict[str, Any]] = {}
        for name, spec in items:
            fn = spec.get("function", spec)
            fn_name = str(fn.get("name") or name)
            out[fn_name] = {"type": "function", "function": {
                "name": fn_name, "description": fn.get("description", ""),
                "parameters": fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}}}
        _tool_files[key] = out
    return _tool_files[key]


def estimate_tokens(messages: list[dict[str, Any]], config: ModelConfig) -> int:
    """A cheap pre-call token estimate for the tokens/min limiter (about 4 characters a token)."""
    chars = sum(len(str(m.get("content", ""))) for m in messages) + len(config.system_prompt or "")
    return chars // 4 + (config.max_tokens or 256)


def cost_of(pricing: Pricing | None, input_tokens: int, output_tokens: int) -> float:
    """USD cost from the version's pricing (0 when the version has none)."""
    return pricing.cost(input_tokens, output_tokens) if pricing else 0.0


def split_system(config: ModelConfig, messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The registry's system prompt (first) plus any system messages, and the other messages."""
    system = [config.system_prompt] if config.system_prompt else []
    system += [str(m["content"]) for m in messages if m.get("role") == "system"]
    return ("\n\n".join(system) or None), [m for m in messages if m.get("role") != "system"]


def sdk_failure(exc: BaseException, sdk: Any) -> Failure | None:
    """Classify an openai/anthropic SDK exception (both SDKs share this shape)."""
    if isinstance(exc, sdk.APITimeoutError | sdk.APIConnectionError):
        return Failure(transient=True, message=f"{type(exc).__name__}: {exc}")
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers if exc.response is not None else {}
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is None and headers.get("retry-after-ms"):
            retry_after = float(headers["retry-after-ms"]) / 1000
        transient = status in (408, 409, 429) or status >= 500
        return Failure(transient=transient, status=status, retry_after=retry_after,
                       message=getattr(exc, "message", str(exc)))
    return None
