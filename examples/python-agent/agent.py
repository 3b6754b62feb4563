#!/usr/bin/env python3
"""A small agent service behind voxgate: the hybrid architecture.

voxgate holds the client connections, the sessions and the streaming; this process holds the
AI logic. It speaks the one thing voxgate's `openai` provider kind speaks: a streaming
OpenAI-compatible `POST /v1/chat/completions` (server-sent events, `data: {chunk}` lines and
a final `data: [DONE]`). Standard library only.

Each request carries the whole conversation voxgate keeps (its `messages`), so the agent is
stateless: it can run as many copies as you like behind one voxgate route.

What the agent does with a request:
  1. prepends its own system prompt (SYSTEM_PROMPT);
  2. retrieval: looks up the user's words in a small knowledge base (KNOWLEDGE) and adds the
     facts it finds as context;
  3. tools: decides whether the turn needs a tool (get_weather), runs it here and feeds the
     result back in as a `tool` message, the same round trip a model's tool call takes;
  4. generates the reply and streams it token by token.

Step 4 is a deterministic stand-in for a language model (generate()), so the example runs
offline and a test can check exactly what the agent's logic put into the reply. Replace it
with a call to your model; steps 1-3 stay as they are.

    python3 agent.py --port 8000        # then point a voxgate provider at http://127.0.0.1:8000/v1
"""
import argparse
import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AGENT_NAME = "Ada"
SYSTEM_PROMPT = (
    f"You are {AGENT_NAME}, the voice assistant of Harbour Street Coffee. Answer in one or two "
    "short spoken sentences. Use the facts given as context; say so when you do not know."
)

# The knowledge base: each entry is found by any of its keywords (a word of the user's turn).
KNOWLEDGE = [
    {"keywords": {"open", "opening", "hours", "close", "closing"},
     "fact": "Harbour Street Coffee is open 07:30 to 18:00, Monday to Saturday, and closed on Sundays."},
    {"keywords": {"oat", "milk", "vegan", "dairy"},
     "fact": "Oat milk is free of charge, and every pastry marked with a green leaf is vegan."},
    {"keywords": {"wifi", "wi-fi", "internet", "password"},
     "fact": "The Wi-Fi network is HarbourGuest and its password is crema-4821."},
]

# The tool's own data source (in a real agent: a weather API).
FORECASTS = {
    "lisbon": "19 degrees and sunny",
    "porto": "16 degrees with light rain",
    "madrid": "24 degrees and clear",
}
WEATHER_WORDS = {"weather", "forecast", "temperature", "rain", "sunny", "warm", "cold"}


def get_weather(city):
    """The tool. Returns what a weather API would, as a JSON string."""
    forecast = FORECASTS.get(city.lower())
    if forecast is None:
        return json.dumps({"city": city, "error": "no forecast for this city"})
    return json.dumps({"city": city.title(), "forecast": forecast})


TOOLS = {"get_weather": get_weather}
# The agent's own tool calls never leave it; any other `tool` message in a request answers a
# tool the Realtime client declared and ran itself.
AGENT_CALL_PREFIX = "agent_call_"


def words(text):
    return re.findall(r"[a-z][a-z-]*", text.lower())


def text_of(content):
    """A message's text: a string, or the text parts of a content array (both are OpenAI's)."""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def user_texts(messages):
    return [text_of(m.get("content")) for m in messages if m.get("role") == "user"]


def retrieve(question):
    """Retrieval: the facts whose keywords occur in the question."""
    asked = set(words(question))
    return [entry["fact"] for entry in KNOWLEDGE if entry["keywords"] & asked]


def plan_tool_calls(messages):
    """The agent's decision: which tools this turn needs, as OpenAI-style tool calls.

    A turn about the weather that names a city gets get_weather. A follow-up that names only a
    city ("And in Porto?") is about the weather too when the turn before it was: the earlier
    turns come from voxgate's conversation history.
    """
    turns = user_texts(messages)
    if not turns:
        return []
    current = set(words(turns[-1]))
    about_weather = bool(current & WEATHER_WORDS) or (
        len(turns) > 1 and bool(set(words(turns[-2])) & WEATHER_WORDS))
    if not about_weather:
        return []
    return [{"id": AGENT_CALL_PREFIX + uuid.uuid4().hex[:12], "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
            for city in FORECASTS if city in current]


def run_tools(calls, log):
    """The tool round trip inside the agent: run each call, answer it with a tool message."""
    results = []
    for call in calls:
        function = call["function"]
        output = TOOLS[function["name"]](**json.loads(function["arguments"]))
        log(f"tool {function['name']}({function['arguments']}) -> {output}")
        results.append({"role": "tool", "tool_call_id": call["id"], "content": output})
    return results


def user_name(messages):
    for text in user_texts(messages):
        found = re.search(r"\bmy name is ([A-Z][a-z]+)", text)
        if found:
            return found.group(1)
    return None


def generate(messages):
    """Stand-in for the model: composes the reply from what the agent put in the prompt."""
    context = [text_of(m.get("content")) for m in messages if m.get("role") == "system"]
    context = [text for text in context if text.startswith("Fact: ")]
    tool_results = [json.loads(m["content"]) for m in messages
                    if m.get("role") == "tool" and str(m.get("tool_call_id", "")).startswith(AGENT_CALL_PREFIX)]
    persona = re.match(r"You are (\w+)", messages[0]["content"])  # answer() puts SYSTEM_PROMPT first
    name = user_name(messages)
    parts = [(f"Hi {name}, " if name else "Hi, ") + (f"{persona.group(1)} here." if persona else "here I am.")]
    parts += [fact[len("Fact: "):] for fact in context]
    for result in tool_results:
        if "forecast" in result:
            parts.append(f"The weather in {result['city']} right now: {result['forecast']}.")
        else:
            parts.append(f"I have no forecast for {result['city']}.")
    if len(parts) == 1:
        parts.append("I can help with our opening hours, the menu, the Wi-Fi and the weather.")
    return " ".join(parts)


def answer(request, log):
    """The whole agent: prompt + retrieval + tools -> reply text."""
    history = request.get("messages", [])
    log(f"request: {len(history)} messages from voxgate")
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}] + history
    turns = user_texts(history)
    question = turns[-1] if turns else ""
    prompt += [{"role": "system", "content": "Fact: " + fact} for fact in retrieve(question)]
    calls = plan_tool_calls(history)
    if calls:
        prompt.append({"role": "assistant", "content": None, "tool_calls": calls})
        prompt += run_tools(calls, log)
    return generate(prompt)


def tokens(text):
    """Word-sized pieces, each keeping its following space, as a model streams them."""
    return re.findall(r"\S+\s*", text)


class AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: voxgate reuses its connections to a provider
    token_delay = 0.02

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length", 0))
            if length < 0:
                raise ValueError("bad Content-Length")
            body = self.rfile.read(length)  # read even on a wrong path: the connection is kept alive
        except ValueError as error:
            self.close_connection = True
            return self.send_json(400, {"error": {"type": "invalid_request_error", "message": str(error)}})
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.send_json(404, {"error": {"type": "not_found_error", "message": "unknown path"}})
        try:
            request = json.loads(body)
            if not isinstance(request, dict) or not isinstance(request.get("messages"), list) or \
                    not all(isinstance(m, dict) for m in request["messages"]):
                raise ValueError("messages must be an array of objects")
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            return self.send_json(400, {"error": {"type": "invalid_request_error", "message": str(error)}})
        reply = answer(request, self.log_line)
        model = request.get("model") or "harbour-agent"
        if request.get("stream"):
            self.stream_reply(reply, model, include_usage=bool((request.get("stream_options") or {}).get("include_usage")))
        else:
            self.send_json(200, {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "model": model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": reply}}]})

    def stream_reply(self, reply, model, include_usage):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}
        pieces = tokens(reply)
        self.send_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                              "finish_reason": None}]})
        for piece in pieces:
            time.sleep(self.token_delay)
            self.send_event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        self.send_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage:
            self.send_event({**base, "choices": [],
                             "usage": {"prompt_tokens": 0, "completion_tokens": len(pieces),
                                       "total_tokens": len(pieces)}})
        self.send_chunk(b"data: [DONE]\n\n")
        self.send_chunk(b"")  # the last chunk of a chunked body

    def send_event(self, payload):
        self.send_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def send_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def send_json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_line(self, text):
        print(f"agent: {text}", file=sys.stderr, flush=True)

    def log_message(self, format, *args):  # the access log, in the same place
        self.log_line(format % args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--token-delay-ms", type=float, default=20, help="pause between streamed tokens")
    args = parser.parse_args()
    AgentHandler.token_delay = args.token_delay_ms / 1000
    server = ThreadingHTTPServer((args.host, args.port), AgentHandler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"agent listening on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
