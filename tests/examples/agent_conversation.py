#!/usr/bin/env python3
"""Drives two turns through voxgate into examples/python-agent with the python-client
example's own functions, and checks that the agent's logic shaped each reply.

    agent_conversation.py ws://127.0.0.1:PORT/v1/realtime AGENT_LOG

Every needle below exists only in agent.py (its system prompt, knowledge base and tool data):
a reply that bypassed the agent cannot contain them.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python-client"))
import client  # noqa: E402  (examples/python-client/client.py)


def expect(condition, message):
    if not condition:
        raise SystemExit(f"FAIL: {message}")


async def main(url, agent_log):
    ws, session = await client.connect(url)
    try:
        deltas = []
        first = await client.ask(ws, "Hi, my name is Maya. What are your opening hours, and what is the "
                                     "weather in Lisbon?", on_delta=deltas.append)
        print(f"turn 1: {first}")
        expect(len(deltas) > 5 and "".join(deltas) == first, f"turn 1 streamed as {len(deltas)} deltas")
        expect("Ada here" in first, "the agent's system prompt (persona) shaped turn 1")
        expect("07:30 to 18:00" in first, "turn 1 carries the retrieved opening hours")
        expect("Lisbon right now: 19 degrees and sunny" in first, "turn 1 carries the get_weather result")
        expect("Maya" in first, "turn 1 greets the user by name")

        # No weather word and no name: the agent needs voxgate's history to answer this.
        second = await client.ask(ws, "And in Porto?")
        print(f"turn 2: {second}")
        expect("Porto right now: 16 degrees with light rain" in second,
               "turn 2 is a weather follow-up (the previous turn came with the request)")
        expect("Maya" in second, "turn 2 still knows the name from turn 1 (history)")
        expect("07:30" not in second, "retrieval runs on the current turn only")
    finally:
        await ws.close()

    with open(agent_log) as log:
        lines = log.read()
    expect("request: 1 messages from voxgate" in lines, "turn 1 reached the agent with one message")
    expect("request: 3 messages from voxgate" in lines, "turn 2 reached the agent with the history (3 messages)")
    for city in ("lisbon", "porto"):
        expect(f'tool get_weather({{"city": "{city}"}})' in lines, f"the agent ran get_weather for {city}")
    print(f"ok: session {session['id']}, two turns shaped by the agent")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
