"""The receiver's HTTP answers in-process: success, partial success, backpressure and stopping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors.api.receiver import ReceiverDeps, build_router
from collectors.config import CollectorConfig
from collectors.store.writer import IngestQueue
from collectors.telemetry import SelfMetrics
from collectors.testing import synthetic_logs, synthetic_spans, to_otlp_json

PB = {"content-type": "application/x-protobuf"}


@pytest.fixture
def queue() -> IngestQueue:
    return IngestQueue(capacity=100)


@pytest.fixture
async def client(queue: IngestQueue) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.receiver = ReceiverDeps(CollectorConfig(retry_after_s=3, max_body_bytes=50_000), queue, SelfMetrics())
    app.include_router(build_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        yield c


async def test_success_queues_rows_and_answers_in_the_request_encoding(client: httpx.AsyncClient, queue: IngestQueue) -> None:
    r = await client.post("/v1/traces", content=synthetic_spans(10).SerializeToString(), headers=PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    r = await client.post("/v1/traces", content=to_otlp_json(synthetic_spans(5)),
                          headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == {}
    assert queue.depth == 15


async def test_partial_success_counts_rejected_spans(client: httpx.AsyncClient) -> None:
    req = synthetic_spans(4)
    req.resource_spans[0].scope_spans[0].spans[1].trace_id = b""
    r = await client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    body = ExportTraceServiceResponse.FromString(r.content)
    assert r.status_code == 200 and body.partial_success.rejected_spans == 1
    assert "trace_id" in body.partial_success.error_message


async def test_full_queue_answers_429_with_retry_after(client: httpx.AsyncClient, queue: IngestQueue) -> None:
    first = await client.post("/v1/traces", content=synthetic_spans(90).SerializeToString(), headers=PB)
    assert first.status_code == 200
    r = await client.post("/v1/traces", content=synthetic_spans(20).SerializeToString(), headers=PB)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert "queue is full" in Status.FromString(r.content).message
    assert queue.depth == 90


async def test_stopping_answers_503_with_retry_after(client: httpx.AsyncClient, queue: IngestQueue) -> None:
    queue.close()
    r = await client.post("/v1/logs", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 200  # nothing to store is still a success
    r = await client.post("/v1/logs", content=synthetic_logs(3).SerializeToString(), headers=PB)
    assert r.status_code == 503 and r.headers["retry-after"] == "3"


async def test_declared_oversize_body_is_413_before_reading(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/traces", content=b"x" * 60_000, headers=PB)
    assert r.status_code == 413 and "limit" in Status.FromString(r.content).message
