#!/usr/bin/env python3
"""A shoplist client on libzmq (pyzmq), written from PROTOCOL.md alone.

It checks what a libzmq client gets with libzmq's defaults (issue 10,
deliverable 4): ZMTP heartbeats, subscriptions across a reconnect with a
new random routing id (a named session), a REQ socket that tries to
subscribe. `tests/tests/libzmq_interop.rs` runs it against a real cluster
and drives the writes; nothing here uses the Rust client code.

Usage: libzmq_client.py ENDPOINT LIST_ID

Conversation on stdout/stdin, one line each:
  "ok <step>"           a step passed
  "fail <step>: <why>"  a step failed (the script then exits 1)
  "write <list>"        please write to <list> now; answer "written" on stdin
Exit 0 when every step passed, 3 when pyzmq cannot be imported.
"""

import json
import os
import sys
import time

try:
    import zmq
    from zmq.utils.monitor import recv_monitor_message
except ImportError as e:  # the Rust test turns this into a clear skip
    print(f"skip pyzmq cannot be imported: {e}", flush=True)
    sys.exit(3)

TIMEOUT_MS = 10_000
HEARTBEAT_IVL_MS = 100


class Failed(Exception):
    pass


def header(op, **fields):
    return json.dumps(dict(v=1, op=op, **fields)).encode()


def dealer(ctx, endpoint, heartbeats=True):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if heartbeats:
        s.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10 * HEARTBEAT_IVL_MS)
    s.connect(endpoint)
    return s


def recv_json(sock, timeout_ms=TIMEOUT_MS):
    """The next message's header (frame 0) as a dict."""
    if not sock.poll(timeout_ms):
        raise Failed(f"no message within {timeout_ms} ms")
    frames = sock.recv_multipart()
    if sock.socket_type == zmq.DEALER and frames and frames[0] == b"":
        raise Failed("a DEALER got an empty delimiter frame")
    return json.loads(frames[0])


def request(sock, op, **fields):
    """Send a request and return its reply, skipping `notify` pushes."""
    sock.send(header(op, **fields))
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise Failed(f"no reply to {op}")
        reply = recv_json(sock, left)
        if reply.get("op") == "notify" and sock.socket_type == zmq.DEALER:
            continue
        if reply.get("id") != fields.get("id"):
            raise Failed(f"reply to {op} id {fields.get('id')} has id {reply.get('id')}: {reply}")
        return reply


def wait_notify(sock, list_id):
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise Failed(f"no notify for {list_id}")
        msg = recv_json(sock, left)
        if msg.get("op") == "notify" and msg.get("list") == list_id:
            if not msg.get("heads"):
                raise Failed(f"notify without heads: {msg}")
            return msg


def ask_for_write(list_id):
    print(f"write {list_id}", flush=True)
    line = sys.stdin.readline().strip()
    if line != "written":
        raise Failed(f"the driver answered {line!r}")


def heartbeats_survive(ctx, endpoint):
    """(a) libzmq PINGs every 100 ms; the connection must stay up."""
    s = dealer(ctx, endpoint)
    monitor = s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    if request(s, "ping", id=1).get("op") != "pong":
        raise Failed("no pong")
    # Watch 15 heartbeat intervals (and their PONGs) for a disconnect.
    watch_until = time.monotonic() + 15 * HEARTBEAT_IVL_MS / 1000
    connects = 0
    while (left := watch_until - time.monotonic()) > 0:
        if monitor.poll(int(left * 1000) + 1):
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                raise Failed("the cloud closed the connection while heartbeats ran")
            connects += 1
    if request(s, "ping", id=2).get("op") != "pong":
        raise Failed("no pong after heartbeats")
    s.disable_monitor()
    monitor.close()
    s.close()


def session_survives_reconnect(ctx, endpoint, list_id):
    """(b) subscribe naming a session; a new socket (new random routing id)
    names it again and gets the subscriptions and the pushes."""
    session = os.urandom(16).hex()
    first = dealer(ctx, endpoint)
    reply = request(first, "subscribe", id=1, lists=[list_id], session=session)
    if reply.get("op") != "subscribed" or reply.get("lists") != [list_id]:
        raise Failed(f"subscribe: {reply}")
    first.close()  # what libzmq's silent reconnect amounts to: a new route
    second = dealer(ctx, endpoint)
    reply = request(second, "subscribe", id=1, lists=[], session=session)
    if reply.get("lists") != [list_id]:
        raise Failed(f"the session's subscriptions were lost: {reply}")
    if reply.get("moved") is not True:
        raise Failed(f"the reply does not say the session moved: {reply}")
    reply = request(second, "subscribe", id=2, lists=[], session=session)
    if reply.get("moved", False):
        raise Failed(f"a session named again on its connection 'moved': {reply}")
    ask_for_write(list_id)
    wait_notify(second, list_id)
    second.close()


def req_cannot_subscribe(ctx, endpoint, list_id):
    """(c) a REQ socket gets a clear error, and keeps working."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    subscribed = request(s, "subscribe", id=1, lists=[list_id])
    ask_for_write(list_id)
    reply = request(s, "ping", id=2)
    if reply.get("op") != "pong":
        raise Failed(f"a REQ ping after a write was answered {reply}")
    if subscribed.get("op") != "error" or subscribed.get("code") != "unknown_op":
        raise Failed(f"a REQ subscribe was answered {subscribed}")
    if "DEALER" not in subscribed.get("message", ""):
        raise Failed(f"the error does not say what to use: {subscribed}")
    s.close()


def main():
    endpoint, list_id = sys.argv[1], sys.argv[2]
    print(f"libzmq {zmq.zmq_version()} pyzmq {zmq.__version__}", flush=True)
    ctx = zmq.Context()
    steps = [
        ("heartbeats", lambda: heartbeats_survive(ctx, endpoint)),
        ("session", lambda: session_survives_reconnect(ctx, endpoint, list_id)),
        ("req", lambda: req_cannot_subscribe(ctx, endpoint, list_id)),
    ]
    only = os.environ.get("INTEROP_STEPS")
    failed = False
    for name, step in steps:
        if only and name not in only.split(","):
            continue
        try:
            step()
            print(f"ok {name}", flush=True)
        except Failed as e:
            print(f"fail {name}: {e}", flush=True)
            failed = True
    ctx.destroy(linger=0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
