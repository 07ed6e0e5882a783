"""One trace follows a request from HTTP through the outbox and NATS into a consumer."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, select

from slipway.app import ServiceSpec, create_service_app
from slipway.db import SessionDep
from slipway.events import Envelope, Subscription, add_event, event_tables
from slipway.settings import ServiceSettings
from slipway.tracing import add_span_exporter, setup_tracing, traced_client, tracer
from slipway_stack.testing import serve, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_trace_crosses_http_outbox_nats_and_consumer(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    setup_tracing("tracetest")
    spans = InMemorySpanExporter()
    add_span_exporter(spans)
    metadata = MetaData(schema="tracetest")
    outbox, _ = event_tables(metadata)
    consumed: list[str] = []

    async def on_event(session, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
        consumed.append(str(envelope.id))

    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create(session: SessionDep) -> dict[str, str]:
        envelope = Envelope(type="evt.tracetest.thing.created", source="tracetest")
        await add_event(session, outbox, envelope)
        return {"id": str(envelope.id)}

    async def create_schema(app) -> None:  # type: ignore[no-untyped-def]
        async with app.state.db.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS tracetest")
            await conn.run_sync(metadata.create_all)

    settings = ServiceSettings(service_name="tracetest", database_url=database_url, nats_url=nats_server.url)
    app = create_service_app(
        ServiceSpec(
            settings=settings,
            routers=[router],
            metadata=metadata,
            on_startup=[create_schema],
            subscriptions=[Subscription("evt.tracetest.>", on_event)],
        )
    )
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/things", headers={"traceparent": TRACEPARENT})
        assert r.status_code == 201
        event_id = r.json()["id"]
        await wait_until(lambda: event_id in consumed, message="event not consumed")
        async with app.state.db.transaction() as s:
            headers = (await s.execute(select(outbox.c.headers))).scalar_one()
    assert TRACE_ID in headers["traceparent"]

    by_name = {span.name: span for span in spans.get_finished_spans()}
    server_span = by_name["POST /things"]
    consumer_span = by_name["consume evt.tracetest.thing.created"]
    assert format(server_span.context.trace_id, "032x") == TRACE_ID
    assert format(consumer_span.context.trace_id, "032x") == TRACE_ID
    assert consumer_span.parent is not None


async def test_traced_client_propagates_traceparent() -> None:
    setup_tracing("tracetest")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent", ""))
        return httpx.Response(204)

    async with traced_client(transport=httpx.MockTransport(handler)) as client:
        with tracer().start_as_current_span("outer") as span:
            await client.get("http://downstream/x")
            trace_id = format(span.get_span_context().trace_id, "032x")
    assert seen and trace_id in seen[0]
