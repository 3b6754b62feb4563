#!/usr/bin/env python3
"""The Python reference peer (bench/peers/README.md): asyncio + aiohttp, the way a Python
voice-agent stack forwards tokens. Each text message is a prompt; the reply streams back as
{"type":"delta"} frames, then {"type":"done"}."""
import argparse
import asyncio
import json
import os
import signal
import ssl

from aiohttp import ClientSession, TCPConnector, WSMsgType, web


def frame(**fields):
    return json.dumps(fields, separators=(",", ":"))  # compact, as on any wire


async def stream_reply(app, ws, prompt):
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    headers = {"Authorization": f"Bearer {os.environ.get('BENCH_UPSTREAM_KEY', 'bench')}"}
    try:
        async with app["client"].post(app["upstream"], json=body, headers=headers) as response:
            if response.status != 200:
                await ws.send_str(frame(type="error", message=f"upstream status {response.status}"))
                return
            async for line in response.content:  # one SSE line at a time, as it arrives
                if not line.startswith(b"data: "):
                    continue
                data = line[6:].strip()
                if data == b"[DONE]":
                    break
                content = json.loads(data)["choices"][0]["delta"].get("content")
                if content:
                    await ws.send_str(frame(type="delta", delta=content))
        await ws.send_str('{"type":"done"}')
    except Exception as e:  # the socket stays up; the client hears why
        await ws.send_str(frame(type="error", message=str(e)))


async def websocket(request):
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    async for message in ws:  # prompts are answered one at a time, in order
        if message.type == WSMsgType.TEXT:
            await stream_reply(request.app, ws, message.data)
    return ws


async def healthz(_):
    return web.Response(text="ok")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:9101")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ca-file")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--cert", help="PEM certificate: serve wss:// (with --key)")
    parser.add_argument("--key")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    tls = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    app = web.Application()
    app["upstream"] = args.upstream
    # limit=0: no per-host pool cap, every session streams at once.
    app["client"] = ClientSession(connector=TCPConnector(limit=0, ssl=tls if tls else None))
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server_tls = None
    if args.cert:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(args.cert, args.key)
    await web.TCPSite(runner, host, int(port), backlog=4096, ssl_context=server_tls).start()
    print(f"listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await app["client"].close()
    await runner.cleanup()


if __name__ == "__main__":
    import sys
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main())
