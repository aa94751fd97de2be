#!/usr/bin/env python3
"""The chat-room example's end-to-end check (guests/run-tests.sh runs it).

    chat-check.py URL [CLIENTS]

Connects CLIENTS (default 3) WebSocket clients to URL, waits until the room
has welcomed each one (then every one of them hears all that is said), has
each client say one line, and checks that every line reaches every other
client, `#PID: TEXT`, and not its sender. Then the clients close. Prints
one `chat: ...` line per finding; exits 0 when all held, 1 otherwise.
Needs the `websockets` package (PyPI); bounded by a 10 s deadline.
"""

import asyncio
import re
import sys

import websockets

DEADLINE = 10.0


async def welcome(ws):
    """Reads until the room's welcome; returns the client's pid."""
    while True:
        line = await ws.recv()
        found = re.fullmatch(r"\* welcome #(\d+), \d+ here", line)
        if found:
            return found.group(1)


async def hear(ws, count):
    """The next `count` lines said by others (join and leave notices,
    which start with `*`, are skipped)."""
    heard = []
    while len(heard) < count:
        line = await ws.recv()
        if not line.startswith("* "):
            heard.append(line)
    return heard


async def check(url, clients):
    sockets = [await websockets.connect(url) for _ in range(clients)]
    pids = [await welcome(ws) for ws in sockets]
    print(f"chat: {clients} clients in the room as " + ", ".join(f"#{p}" for p in pids))
    for i, ws in enumerate(sockets):
        await ws.send(f"hello from client {i}")
    heard = await asyncio.gather(*(hear(ws, clients - 1) for ws in sockets))
    ok = True
    for i, lines in enumerate(heard):
        expected = sorted(f"#{pids[j]}: hello from client {j}" for j in range(clients) if j != i)
        if sorted(lines) == expected:
            print(f"chat: client {i} heard the {clients - 1} others: {sorted(lines)}")
        else:
            print(f"chat: client {i} heard {lines}, expected {expected}")
            ok = False
    # Nothing more (its own line above all) is on its way to anyone.
    for i, ws in enumerate(sockets):
        try:
            extra = await asyncio.wait_for(ws.recv(), 0.3)
            if not extra.startswith("* "):
                print(f"chat: client {i} also heard {extra!r}")
                ok = False
        except asyncio.TimeoutError:
            pass
    for ws in sockets:
        await ws.close()
    return ok


def main():
    url = sys.argv[1]
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    try:
        ok = asyncio.run(asyncio.wait_for(check(url, clients), DEADLINE))
    except Exception as error:  # a refused connection, the deadline, a close
        print(f"chat: failed: {type(error).__name__}: {error}")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
