//! The `echo` relay (PROTOCOL.md §4.1), the bare transport path the
//! benchmark compares `sync` with (DESIGN §9 "transport"): client → proxy →
//! ONE replica of the list → proxy → client, with no quorum, no store and no
//! notify. Sans-IO, as methods of [`ProxyCore`].

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::{ErrorCode, Header, Message};
use engine::ListId;

use super::state::{Effect, ProxyCore, Purpose};
use crate::transport::envelope::Envelope;

impl ProxyCore {
    /// A client's `echo`: forward it, under a fresh id, to the list's first
    /// live replica.
    pub(super) fn start_echo(
        &mut self,
        client: Envelope,
        client_id: u64,
        list: ListId,
        payload: Vec<Bytes>,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let first = self
            .placement
            .targets(&list, |w| self.is_live(w))
            .into_iter()
            .next()
            .map(|t| t.worker);
        let Some(worker) = first else {
            out.push(Effect::ToClient(
                client,
                Message::unavailable(client_id, 0, 1),
            ));
            return;
        };
        let id = self.fresh_id();
        let msg = Message::with_changes(Header::Echo { id, list }, payload);
        let purpose = Purpose::Echo {
            client: client.clone(),
            client_id,
            worker: worker.clone(),
        };
        if !self.send_to_worker(&worker, purpose, id, msg, now, out) {
            out.push(Effect::ToClient(
                client,
                Message::unavailable(client_id, 0, 1),
            ));
        }
    }

    /// The worker's answer to a relayed `echo` (or its `error`): back to the
    /// client under the client's id.
    pub(super) fn finish_echo(
        &mut self,
        client: Envelope,
        client_id: u64,
        msg: Message,
        out: &mut Vec<Effect>,
    ) {
        let reply = match msg.header {
            Header::EchoOk { list, .. } => Message::with_changes(
                Header::EchoOk {
                    id: client_id,
                    list,
                },
                msg.changes,
            ),
            Header::Error { code, message, .. } => Message::error(client_id, code, message),
            other => Message::error(
                client_id,
                ErrorCode::Internal,
                format!("worker answered an echo with `{}`", other.op()),
            ),
        };
        out.push(Effect::ToClient(client, reply));
    }
}
