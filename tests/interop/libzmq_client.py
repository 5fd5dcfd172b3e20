#!/usr/bin/env python3
"""A shoplist client on libzmq (pyzmq), written from PROTOCOL.md v2 alone.

Independent proof that PROTOCOL.md suffices for a client in another
language (issue 10, deliverables 4 and 5). Nothing here uses the Rust
client code: the ZeroMQ side is libzmq (pyzmq), the keys and signatures
are the `cryptography` package's Ed25519, the documents are the Python
`automerge` binding (`automerge==1.0.0rc1`, the maintained one; the older
0.1.x releases on PyPI cannot name an actor or produce change bytes).
`tests/tests/libzmq_interop.rs` runs it against a real cluster and makes
the CLI's side of the conversation. The steps, in order:

  heartbeats   a DEALER with ZMQ_HEARTBEAT_IVL stays connected (§1, §9.1)
  session      subscriptions survive a new routing id through a session (§6.1)
  req          a REQ socket's subscribe is `error unknown_op` naming DEALER (§6)
  push         a fresh Ed25519 key is the actor id (§2.1); a list is created
               and an item added per §12, each change signed per §2.1 and
               sent in one `sync`; `synced` with acked >= W, nothing missing;
               then the driver `join`s it with the CLI, `show --json` must
               list it without warnings and `log --json` name our key
  pull         a second, fresh Python state syncs with `have: []`, gets the
               change frames, checks hashes, signatures (§2.1) and the chain
               rule, loads them with automerge and reads the document (§12)
  notify       that state subscribes (heartbeats on) asking for changes
               (§6.2), the CLI adds an item, a `notify` comes carrying the
               CLI's signed change; a `sync` from its old heads brings the
               same change, signed by the CLI's key, and the item is read
  forged       a change with our actor signed by another key: `error forged`
               (then the same change signed by our key is `synced`)
  unsupported_version  a `"v":1` header: `error unsupported_version`
  frame_count  `n` not matching the frames: `error frame_count`
  bad_change   a change frame shorter than a signature: `error bad_change`

Usage: libzmq_client.py ENDPOINT LIST_ID [W]
  ENDPOINT  the proxy's frontend; LIST_ID a list the CLI made (for session
  and req); W the cluster's write quorum (default 2, PROTOCOL §5).

Conversation on stdout/stdin, one line each:
  "ok <step>"                a step passed
  "fail <step>: <why>"       a step failed (the script goes on, then exits 1)
  "write <list> <item>"      please add <item> to <list> with the CLI and
                             sync; answer "written" on stdin
  "check <list> <json>"      please join <list> with the CLI and check it
                             holds what <json> says ({"name", "items":
                             [{"name", "needed"}], "actor"}); answer
                             "checked", or anything else to fail the step
Exit 0 when every step passed, 1 when one failed, 3 when pyzmq,
cryptography or automerge (>= 1.0) cannot be imported (the Rust test then
reports SKIPPED).
"""

import hashlib
import json
import os
import secrets
import sys
import time
import uuid

try:
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from automerge import core as am

    am.Document  # 0.1.x has no `automerge.core`: this fails there
except ImportError as e:  # the Rust test turns this into a clear skip
    print(f"skip a Python package cannot be imported: {e}", flush=True)
    sys.exit(3)

TIMEOUT_MS = 10_000
HEARTBEAT_IVL_MS = 100
VERSION = 2

# PROTOCOL §2.1
SIGNATURE_LEN = 64
DOMAIN = b"shoplist change v2\x00"
MAGIC = bytes.fromhex("856f4a83")
CHUNK_TYPE_CHANGE = 0x01
# PROTOCOL §12
MAX_LIVE = 2**53 - 1
LIST_NAME = "Interop from Python"
ITEM_NAME = "Milk"
ITEM_NORM = "milk"  # NFKC, case-folded, accents removed, whitespace collapsed
ITEM_QTY = 2
WHO = "python"


class Failed(Exception):
    pass


# ---------------------------------------------------------------- framing


def header(op, v=VERSION, **fields):
    return json.dumps(dict(v=v, op=op, **fields)).encode()


def dealer(ctx, endpoint, heartbeats=True):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if heartbeats:
        s.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10 * HEARTBEAT_IVL_MS)
    s.connect(endpoint)
    return s


def recv_message(sock, timeout_ms=TIMEOUT_MS):
    """The next message: (header dict, frames after the header)."""
    if not sock.poll(timeout_ms):
        raise Failed(f"no message within {timeout_ms} ms")
    frames = sock.recv_multipart()
    if sock.socket_type == zmq.DEALER and frames and frames[0] == b"":
        raise Failed("a DEALER got an empty delimiter frame")
    head = json.loads(frames[0])
    if head.get("v") != VERSION:
        raise Failed(f"a reply with v={head.get('v')}: {head}")
    if head.get("n", 0) != len(frames) - 1:
        raise Failed(f"n={head.get('n')} but {len(frames) - 1} frames follow: {head}")
    return head, frames[1:]


def recv_json(sock, timeout_ms=TIMEOUT_MS):
    return recv_message(sock, timeout_ms)[0]


def request_frames(sock, op, frames=(), v=VERSION, **fields):
    """Send a request (header + frames) and return the reply and its frames,
    skipping `notify` pushes."""
    sock.send_multipart([header(op, v=v, **fields), *frames])
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise Failed(f"no reply to {op}")
        reply, got = recv_message(sock, left)
        if reply.get("op") == "notify" and sock.socket_type == zmq.DEALER:
            continue
        if reply.get("id") != fields.get("id"):
            raise Failed(f"reply to {op} id {fields.get('id')} has id {reply.get('id')}: {reply}")
        return reply, got


def request(sock, op, **fields):
    return request_frames(sock, op, **fields)[0]


def wait_notify(sock, list_id):
    """The next `notify` for `list_id` and the change frames it carried
    (§6.2; none unless the subscriber asked)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise Failed(f"no notify for {list_id}")
        msg, frames = recv_message(sock, left)
        if msg.get("op") == "notify" and msg.get("list") == list_id:
            if msg.get("id") != 0:
                raise Failed(f"notify with id {msg.get('id')}, not 0: {msg}")
            if not msg.get("heads"):
                raise Failed(f"notify without heads: {msg}")
            return msg, frames


def expect_error(reply, code, rid):
    if reply.get("op") != "error" or reply.get("code") != code:
        raise Failed(f"expected error {code}, got {reply}")
    if reply.get("id") != rid:
        raise Failed(f"error {code} with id {reply.get('id')}, not {rid}: {reply}")
    if not isinstance(reply.get("message"), str):
        raise Failed(f"error {code} without a message: {reply}")


# ------------------------------------------------ the driver (the CLI side)


def ask_for_write(list_id, item):
    print(f"write {list_id} {item}", flush=True)
    line = sys.stdin.readline().strip()
    if line != "written":
        raise Failed(f"the driver answered {line!r}")


def ask_for_check(list_id, expected):
    print(f"check {list_id} {json.dumps(expected)}", flush=True)
    line = sys.stdin.readline().strip()
    if line != "checked":
        raise Failed(f"the CLI does not see the list as made here: {line}")


# ------------------------------------------------ signed changes (§2, §2.1)


def public_bytes(key):
    return key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def change_hash(chunk):
    """§2.1: SHA-256 of the chunk after its magic and checksum (the type
    byte, the length and the body); its first 4 bytes are the checksum."""
    if len(chunk) < 9 or chunk[:4] != MAGIC or chunk[8] != CHUNK_TYPE_CHANGE:
        raise Failed(f"not an uncompressed change chunk: {chunk[:9].hex()}")
    digest = hashlib.sha256(chunk[8:]).digest()
    if chunk[4:8] != digest[:4]:
        raise Failed("a change chunk's checksum is not its hash's first 4 bytes")
    return digest


def signed_bytes(list_id, digest):
    data = DOMAIN + uuid.UUID(list_id).bytes + digest
    assert len(data) == 67
    return data


def sign_frame(key, list_id, change):
    chunk = change.raw_bytes
    digest = change_hash(chunk)
    if digest != change.hash:
        raise Failed(f"§2.1's change hash {digest.hex()} is not automerge's {change.hash.hex()}")
    return key.sign(signed_bytes(list_id, digest)) + chunk


def split_frame(frame):
    if len(frame) < SIGNATURE_LEN:
        raise Failed(f"a change frame of {len(frame)} bytes, shorter than a signature")
    return frame[:SIGNATURE_LEN], frame[SIGNATURE_LEN:]


def check_frames(list_id, frames, known_chunks=()):
    """Verify received change frames (§2.1) and return their chunks and the
    document they load into with `known_chunks` before them."""
    chunks, sigs = [], []
    for frame in frames:
        sig, chunk = split_frame(frame)
        change_hash(chunk)
        chunks.append(chunk)
        sigs.append(sig)
    try:
        doc = am.Document.load(b"".join([*known_chunks, *chunks]))
    except Exception as e:
        raise Failed(f"automerge cannot load the received changes: {e}")
    changes = {c.hash: c for c in doc.get_changes([])}
    by_actor_seq = {(c.actor_id, c.seq): c.hash for c in changes.values()}
    for i, (sig, chunk) in enumerate(zip(sigs, chunks)):
        digest = change_hash(chunk)
        change = changes.get(digest)
        if change is None:
            raise Failed(f"change {i} ({digest.hex()}) did not load")
        if len(change.actor_id) != 32:
            raise Failed(f"change {i}: actor id of {len(change.actor_id)} bytes, not a key")
        try:
            Ed25519PublicKey.from_public_bytes(change.actor_id).verify(
                sig, signed_bytes(list_id, digest)
            )
        except InvalidSignature:
            raise Failed(f"change {i}: the signature does not verify under its actor")
        if change.seq > 1:
            prev = by_actor_seq.get((change.actor_id, change.seq - 1))
            if prev is None or prev not in change.deps:
                raise Failed(f"change {i}: seq {change.seq} breaks the chain rule")
    return chunks, doc


def heads_hex(doc):
    return sorted(h.hex() for h in doc.get_heads())


def new_changes(doc, heads):
    return doc.get_changes(heads)


# --------------------------------------------------- the list document (§12)


def create_list(doc):
    with doc.transaction() as tx:
        tx.put(am.ROOT, "name", am.ScalarType.Str, LIST_NAME)
        tx.put_object(am.ROOT, "items", am.ObjType.Map)


def add_item(doc, name, norm, qty):
    value = doc.get(am.ROOT, "items")
    if value is None:
        raise Failed("the document has no `items`")
    items = value[1]
    with doc.transaction() as tx:
        item = tx.put_object(items, uuid.uuid4().hex, am.ObjType.Map)
        tx.put(item, "name", am.ScalarType.Str, name)
        tx.put(item, "norm", am.ScalarType.Str, norm)
        tx.put(item, "added_by", am.ScalarType.Str, WHO)
        tx.put(item, "added_at", am.ScalarType.Int, int(time.time() * 1000))
        needs = tx.put_object(item, "needs", am.ObjType.Map)
        tx.put(needs, secrets.token_hex(16), am.ScalarType.Int, qty)
        tx.put(item, "live", am.ScalarType.Int, 1 + secrets.randbelow(MAX_LIVE))


def read_list(doc):
    """{name, items: {display name: needed}} of the live items (§12.1)."""
    content = am.extract(doc)
    items = {}
    for key, item in content.get("items", {}).items():
        if len(key) != 32 or not isinstance(item, dict):
            raise Failed(f"a strange item {key!r}: {item!r}")
        if "live" not in item:
            continue
        needed = sum(item.get("needs", {}).values())
        items[item.get("name")] = needed
    return {"name": content.get("name"), "items": items}


# ------------------------------------------------------------------ steps


class State:
    """What the steps hand on: the list made here and its changes."""

    def __init__(self, write_quorum):
        self.w = write_quorum
        self.key = None  # the writer's Ed25519 key
        self.doc = None  # the writer's document
        self.list_id = None
        self.pulled = None  # (chunks, doc) of the second, reading state


def heartbeats_survive(ctx, endpoint):
    """(a) libzmq PINGs every 100 ms; the connection must stay up."""
    s = dealer(ctx, endpoint)
    monitor = s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    if request(s, "ping", id=1).get("op") != "pong":
        raise Failed("no pong")
    # Watch 15 heartbeat intervals (and their PONGs) for a disconnect.
    watch_until = time.monotonic() + 15 * HEARTBEAT_IVL_MS / 1000
    while (left := watch_until - time.monotonic()) > 0:
        if monitor.poll(int(left * 1000) + 1):
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                raise Failed("the cloud closed the connection while heartbeats ran")
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
    ask_for_write(list_id, "Session item")
    _, frames = wait_notify(second, list_id)
    if frames:
        raise Failed(f"a notify carried {len(frames)} frames nobody asked for (§6.2)")
    second.close()


def req_cannot_subscribe(ctx, endpoint, list_id):
    """(c) a REQ socket gets a clear error, and keeps working."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    subscribed = request(s, "subscribe", id=1, lists=[list_id])
    ask_for_write(list_id, "Req item")
    reply = request(s, "ping", id=2)
    if reply.get("op") != "pong":
        raise Failed(f"a REQ ping after a write was answered {reply}")
    if subscribed.get("op") != "error" or subscribed.get("code") != "unknown_op":
        raise Failed(f"a REQ subscribe was answered {subscribed}")
    if "DEALER" not in subscribed.get("message", ""):
        raise Failed(f"the error does not say what to use: {subscribed}")
    s.close()


def push_signed_changes(ctx, endpoint, state):
    """A new device: key, actor id, a list made and an item added (§12),
    both changes signed (§2.1) and pushed in one `sync` (§4, §5)."""
    state.key = Ed25519PrivateKey.generate()
    actor = public_bytes(state.key)
    state.list_id = str(uuid.uuid4())
    state.doc = am.Document(actor)
    create_list(state.doc)
    add_item(state.doc, ITEM_NAME, ITEM_NORM, ITEM_QTY)
    changes = state.doc.get_changes([])
    if [c.seq for c in changes] != [1, 2] or any(c.actor_id != actor for c in changes):
        raise Failed(f"automerge made {[(c.actor_id.hex(), c.seq) for c in changes]}")
    frames = [sign_frame(state.key, state.list_id, c) for c in changes]
    s = dealer(ctx, endpoint)
    have = heads_hex(state.doc)
    reply, got = request_frames(
        s, "sync", frames, id=1, list=state.list_id, have=have, n=len(frames)
    )
    s.close()
    if reply.get("op") != "synced":
        raise Failed(f"sync was answered {reply}")
    if reply.get("acked", 0) < state.w or reply.get("missing") != []:
        raise Failed(f"not acknowledged by W={state.w}: {reply}")
    if sorted(reply.get("heads", [])) != have or got:
        raise Failed(f"the cloud's heads or changes differ from ours: {reply}")
    ask_for_check(
        state.list_id,
        {
            "name": LIST_NAME,
            "items": [{"name": ITEM_NAME, "needed": ITEM_QTY}],
            "actor": actor.hex(),
        },
    )


def pull_into_fresh_state(ctx, endpoint, state):
    """A second state with nothing: `have: []` returns every change frame."""
    if state.list_id is None:
        raise Failed("needs push")
    s = dealer(ctx, endpoint)
    reply, frames = request_frames(s, "sync", id=7, list=state.list_id, have=[], n=0)
    s.close()
    if reply.get("op") != "synced" or reply.get("list") != state.list_id:
        raise Failed(f"the pull was answered {reply}")
    if len(frames) != 2:
        raise Failed(f"{len(frames)} change frames, not the 2 pushed: {reply}")
    chunks, doc = check_frames(state.list_id, frames)
    if heads_hex(doc) != heads_hex(state.doc) or sorted(reply["heads"]) != heads_hex(doc):
        raise Failed(f"the pulled heads differ: {reply['heads']} vs {heads_hex(state.doc)}")
    if chunks != [c.raw_bytes for c in state.doc.get_changes([])]:
        raise Failed("the pulled changes are not the bytes pushed")
    got = read_list(doc)
    want = {"name": LIST_NAME, "items": {ITEM_NAME: ITEM_QTY}}
    if got != want:
        raise Failed(f"the pulled document reads {got}, not {want}")
    state.pulled = (chunks, doc)


def notify_then_pull_the_clis_edit(ctx, endpoint, state):
    """The reading state subscribes (heartbeats on), the CLI adds an item,
    `notify` comes; a `sync` from its heads brings the CLI's signed change."""
    if state.pulled is None:
        raise Failed("needs pull")
    chunks, doc = state.pulled
    s = dealer(ctx, endpoint, heartbeats=True)
    session = secrets.token_hex(16)
    reply = request(
        s, "subscribe", id=1, lists=[state.list_id], session=session, changes=True
    )
    if reply.get("op") != "subscribed" or reply.get("lists") != [state.list_id]:
        raise Failed(f"subscribe: {reply}")
    ask_for_write(state.list_id, "Bread")
    note, carried = wait_notify(s, state.list_id)
    if sorted(note["heads"]) == heads_hex(doc):
        raise Failed(f"the notify names the heads we have: {note}")
    # §6.2: asked for, the one-change write rides on the notify, signed.
    if not carried:
        raise Failed(f"asked for changes, the notify carried none: {note}")
    _, pushed_doc = check_frames(state.list_id, carried, chunks)
    if sorted(note["heads"]) != heads_hex(pushed_doc):
        raise Failed(f"the carried changes lead to {heads_hex(pushed_doc)}, not {note['heads']}")
    reply, frames = request_frames(
        s, "sync", id=2, list=state.list_id, have=heads_hex(doc), n=0
    )
    s.close()
    if reply.get("op") != "synced" or not frames:
        raise Failed(f"the sync after notify was answered {reply} with {len(frames)} frames")
    new_chunks, doc = check_frames(state.list_id, frames, chunks)
    mine = public_bytes(state.key)
    for chunk in new_chunks:
        change = next(c for c in doc.get_changes([]) if c.hash == change_hash(chunk))
        if change.actor_id == mine:
            raise Failed("a change the CLI made carries our actor id")
    if sorted(reply["heads"]) != heads_hex(doc) or sorted(note["heads"]) != heads_hex(doc):
        raise Failed(f"heads: synced {reply['heads']}, notify {note['heads']}, read {heads_hex(doc)}")
    got = read_list(doc)
    want = {"name": LIST_NAME, "items": {ITEM_NAME: ITEM_QTY, "Bread": 1}}
    if got != want:
        raise Failed(f"after the CLI's edit the document reads {got}, not {want}")
    state.pulled = (chunks + new_chunks, doc)


def forged_change_is_refused(ctx, endpoint, state):
    """A change naming our actor but signed by another key: `forged`; the
    same change signed by our key is then stored."""
    if state.doc is None:
        raise Failed("needs push")
    before = state.doc.get_heads()
    add_item(state.doc, "Eggs", "eggs", 1)
    [change] = new_changes(state.doc, before)
    intruder = Ed25519PrivateKey.generate()
    s = dealer(ctx, endpoint)
    forged = sign_frame(intruder, state.list_id, change)
    have = heads_hex(state.doc)
    reply = request_frames(s, "sync", [forged], id=1, list=state.list_id, have=have, n=1)[0]
    expect_error(reply, "forged", 1)
    genuine = sign_frame(state.key, state.list_id, change)
    reply = request_frames(s, "sync", [genuine], id=2, list=state.list_id, have=have, n=1)[0]
    s.close()
    if reply.get("op") != "synced" or reply.get("acked", 0) < state.w or reply.get("missing"):
        raise Failed(f"the same change, signed by its actor, was answered {reply}")


def version_1_is_refused(ctx, endpoint, state):
    s = dealer(ctx, endpoint)
    expect_error(request(s, "ping", v=1, id=41), "unsupported_version", 41)
    list_id = state.list_id or str(uuid.uuid4())
    reply = request(s, "sync", v=1, id=42, list=list_id, have=[], n=0)
    expect_error(reply, "unsupported_version", 42)
    if request(s, "ping", id=43).get("op") != "pong":
        raise Failed("no pong after the version-1 requests")
    s.close()


def frame_count_mismatch_is_refused(ctx, endpoint, state):
    if state.doc is None:
        raise Failed("needs push")
    frame = sign_frame(state.key, state.list_id, state.doc.get_changes([])[0])
    s = dealer(ctx, endpoint)
    reply = request_frames(s, "sync", [frame], id=51, list=state.list_id, have=[], n=2)[0]
    expect_error(reply, "frame_count", 51)
    reply = request_frames(s, "ping", [frame], id=52)[0]
    expect_error(reply, "frame_count", 52)
    s.close()


def short_frame_is_bad_change(ctx, endpoint, state):
    if state.list_id is None:
        raise Failed("needs push")
    s = dealer(ctx, endpoint)
    reply = request_frames(
        s, "sync", [b"\x00" * 63], id=61, list=state.list_id, have=[], n=1
    )[0]
    expect_error(reply, "bad_change", 61)
    s.close()


def main():
    endpoint, list_id = sys.argv[1], sys.argv[2]
    write_quorum = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    print(
        f"libzmq {zmq.zmq_version()} pyzmq {zmq.__version__}; "
        f"cryptography {__import__('cryptography').__version__}",
        flush=True,
    )
    ctx = zmq.Context()
    state = State(write_quorum)
    steps = [
        ("heartbeats", lambda: heartbeats_survive(ctx, endpoint)),
        ("session", lambda: session_survives_reconnect(ctx, endpoint, list_id)),
        ("req", lambda: req_cannot_subscribe(ctx, endpoint, list_id)),
        ("push", lambda: push_signed_changes(ctx, endpoint, state)),
        ("pull", lambda: pull_into_fresh_state(ctx, endpoint, state)),
        ("notify", lambda: notify_then_pull_the_clis_edit(ctx, endpoint, state)),
        ("forged", lambda: forged_change_is_refused(ctx, endpoint, state)),
        ("unsupported_version", lambda: version_1_is_refused(ctx, endpoint, state)),
        ("frame_count", lambda: frame_count_mismatch_is_refused(ctx, endpoint, state)),
        ("bad_change", lambda: short_frame_is_bad_change(ctx, endpoint, state)),
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
        except Exception as e:  # a bug here, or a library surprise: say which step
            print(f"fail {name}: {type(e).__name__}: {e}", flush=True)
            failed = True
    ctx.destroy(linger=0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
