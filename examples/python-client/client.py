#!/usr/bin/env python3
"""A minimal Realtime text client for voxgate, on Debian's python3-websockets (asyncio API).

    python3 client.py "What are your opening hours?"
    python3 client.py --url wss://voxgate.example/v1/realtime?model=gpt-4o-mini "Hello"

Set VOXGATE_API_KEY when the gateway runs with auth.mode api_keys.
"""
import argparse
import asyncio
import json
import os
import sys

import websockets


async def ask(ws, text, on_delta=None):
    """One turn: add a user message, ask for a response, stream its text; returns the final text."""
    await ws.send(json.dumps({
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }))
    await ws.send(json.dumps({"type": "response.create"}))
    final_text = ""
    async for frame in ws:
        event = json.loads(frame)
        if event["type"] == "response.output_text.delta" and on_delta:
            on_delta(event["delta"])
        elif event["type"] == "response.output_text.done":
            final_text = event["text"]
        elif event["type"] == "error":
            raise RuntimeError(f"{event['error'].get('code')}: {event['error'].get('message')}")
        elif event["type"] == "response.done":
            status = event["response"]["status"]
            if status != "completed":
                raise RuntimeError(f"response ended {status}: {event['response'].get('status_details')}")
            return final_text
    raise RuntimeError("the connection closed before response.done")


async def connect(url):
    """Opens the WebSocket and waits for session.created, which voxgate always sends first."""
    key = os.environ.get("VOXGATE_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    ws = await websockets.connect(url, subprotocols=["realtime"], extra_headers=headers)
    created = json.loads(await ws.recv())
    if created["type"] != "session.created":
        raise RuntimeError(f"expected session.created, got {created['type']}")
    return ws, created["session"]


async def main():
    parser = argparse.ArgumentParser(description="Ask voxgate one question and stream the reply.")
    parser.add_argument("question")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/v1/realtime?model=gpt-4o-mini")
    args = parser.parse_args()

    ws, session = await connect(args.url)
    print(f"session {session['id']} (model {session['model']})", file=sys.stderr)
    try:
        text = await ask(ws, args.question, on_delta=lambda delta: print(delta, end="", flush=True))
    finally:
        await ws.close()
    print(f"\nfinal: {text}")


if __name__ == "__main__":
    asyncio.run(main())
