"""A minimal, fast Sinch-shaped server for client benchmarks (run as a child process).

It answers ``POST .../batches`` with 201 and a small batch JSON, and
``GET .../batches`` with a list page, without keeping state, so that the
client, not the server, is what the benchmark measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from aiohttp import web

_ids = itertools.count()
_LIST_ITEM = (
    b'{"id":"01BENCH%020d","to":["15550000001"],"from":"Bench","canceled":false,'
    b'"body":"Hello from the benchmark","type":"mt_text",'
    b'"created_at":"2026-11-22T10:00:00.000Z","modified_at":"2026-11-22T10:00:00.000Z",'
    b'"delivery_report":"none","expire_at":"2026-11-25T10:00:00.000Z"}'
)
_LIST_TOTAL = 10_000


async def send(request: web.Request) -> web.Response:
    await request.read()
    body = (
        b'{"id":"01BENCH%020d","to":["15550000001"],"type":"mt_text","body":"Hi",' % next(_ids)
        + b'"created_at":"2026-11-22T10:00:00.000Z","canceled":false}'
    )
    return web.Response(status=201, body=body, content_type="application/json")


async def list_batches(request: web.Request) -> web.Response:
    page = int(request.query.get("page", "0"))
    size = int(request.query.get("page_size", "30"))
    if "client_reference" in request.query:
        return web.json_response({"count": 0, "page": page, "page_size": 0, "batches": []})
    start = page * size
    n = max(0, min(size, _LIST_TOTAL - start))
    items = b",".join(_LIST_ITEM % (start + i) for i in range(n))
    body = b'{"count":%d,"page":%d,"page_size":%d,"batches":[%s]}' % (_LIST_TOTAL, page, n, items)
    return web.Response(body=body, content_type="application/json")


def main() -> None:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/xms/v1/{plan}/batches", send)
    app.router.add_get("/xms/v1/{plan}/batches", list_batches)

    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(f"Fast server listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(start())


if __name__ == "__main__":
    main()
