#!/usr/bin/env python3
"""Talk to voxgate: stream a spoken question (a WAV file, as a microphone would, in 20 ms
frames at real-time pace), let server VAD find the end of the turn, and save the spoken
reply. Debian's python3-websockets; no other dependency.

    espeak-ng -v en-us -w question.wav "What time do you open?"
    python3 voice.py question.wav reply.wav
"""
import argparse, asyncio, base64, json, os, sys, warnings, wave

import websockets

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # resampling; in the standard library up to Python 3.12


async def talk(url, question_wav, reply_wav):
    key = os.environ.get("VOXGATE_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with websockets.connect(url, extra_headers=headers, max_size=None) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {
            "output_modalities": ["audio"],  # spoken replies (default: text)
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                      "output": {"format": {"type": "audio/pcm", "rate": 24000}}}}}))
        with wave.open(question_wav) as w:  # 16-bit mono, any rate: resampled to 24 kHz
            pcm, _ = audioop.ratecv(w.readframes(w.getnframes()), 2, 1, w.getframerate(), 24000, None)
        pcm += bytes(48000)  # one second of silence after the question ends the turn
        sender = asyncio.create_task(stream(ws, pcm))
        reply = bytearray()
        async for frame in ws:
            event = json.loads(frame)
            kind = event["type"]
            if kind == "conversation.item.input_audio_transcription.completed":
                print("you said:", event["transcript"])
            elif kind == "response.output_audio.delta":
                reply += base64.b64decode(event["delta"])
            elif kind == "response.output_audio_transcript.done":
                print("reply:", event["transcript"])
            elif kind == "error":
                print("error:", event["error"]["code"], event["error"]["message"], file=sys.stderr)
            elif kind == "response.done":
                break
        sender.cancel()
    with wave.open(reply_wav, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(24000)
        out.writeframes(bytes(reply))
    print(f"saved {len(reply) / 48000:.1f} s of speech to {reply_wav}")


async def stream(ws, pcm, frame=960):  # 20 ms of PCM16 at 24 kHz
    for start in range(0, len(pcm), frame):
        await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                  "audio": base64.b64encode(pcm[start:start + frame]).decode()}))
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question_wav")
    parser.add_argument("reply_wav")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/v1/realtime")
    args = parser.parse_args()
    asyncio.run(talk(args.url, args.question_wav, args.reply_wav))
