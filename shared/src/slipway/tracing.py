"""OpenTelemetry tracing across HTTP (ASGI middleware, httpx hook) and NATS headers; off by default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

_installed = False


def setup_tracing(service_name: str, exporter: str = "none", span_exporter: SpanExporter | None = None) -> None:
    """Install a tracer provider once per process; spans propagate even when nothing is exported."""
    global _installed
    if _installed:
        return
    _installed = True
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if span_exporter is None:
        if exporter == "console":
            span_exporter = ConsoleSpanExporter()
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


def add_span_exporter(span_exporter: SpanExporter) -> None:
    """Also send spans to `span_exporter` (synchronously), e.g. an in-memory exporter in tests."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("call setup_tracing() first")
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))


def tracer() -> trace.Tracer:
    return trace.get_tracer("slipway")


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (`traceparent`) to outgoing headers."""
    propagate.inject(headers)
    return headers


@contextmanager
def consume_span(subject: str, headers: Mapping[str, str]) -> Iterator[None]:
    ctx = propagate.extract(dict(headers))
    with tracer().start_as_current_span(f"consume {subject}", context=ctx, kind=SpanKind.CONSUMER) as span:
        span.set_attribute("messaging.destination.name", subject)
        yield


async def _httpx_inject(request: httpx.Request) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    request.headers.update(carrier)


def traced_client(**kwargs) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    """An httpx client that propagates the trace context on every request."""
    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("request", []).append(_httpx_inject)
    return httpx.AsyncClient(event_hooks=hooks, **kwargs)


class TracingMiddleware:
    """Server span per HTTP request, continuing the caller's `traceparent`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ctx = propagate.extract(carrier)
        name = f"{scope.get('method', 'WS')} {scope['path']}"
        with tracer().start_as_current_span(name, context=ctx, kind=SpanKind.SERVER) as span:
            span.set_attribute("http.target", scope["path"])
            status: dict[str, int] = {}

            async def send_wrapper(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    span.set_attribute("http.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_wrapper)
