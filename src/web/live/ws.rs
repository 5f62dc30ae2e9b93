//! `GET /api/ws`: one live client. It joins the shared feed (`feed.rs`), sends its snapshot,
//! then copies the feed's frames from its bounded queue into the socket, skipping events the
//! snapshot already covers; meanwhile it reads the socket to answer pings and notice the
//! client leaving. The gateway never waits on a client: the feed only `try_send`s, and a
//! client whose queue is full is closed with 1013 ("try again later").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::feed::Client;
use super::frame::{Frame, Snapshot};
use crate::web::WebState;
use crate::web::api::error::ApiError;

/// Frames waiting for one client's socket. Events come one per state change, so a client
/// that reads keeps this nearly empty; when it is full the client is not keeping up: the
/// feed drops it, the queued frames are dropped and the socket is closed with 1013.
pub(super) const CLIENT_QUEUE: usize = 256;
/// How long a closing client gets to take its close frame before the connection is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Clients send nothing but control frames; anything bigger than this is refused.
const MAX_INCOMING: usize = 4 << 10;
/// Each client's read buffer, allocated up front (128 KiB by default): room for any control
/// frame (at most 125 bytes of payload); a bigger message grows it up to `MAX_INCOMING`.
const READ_BUFFER: usize = 512;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Why a client's feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed or its connection failed.
    ClientGone,
    /// The client's queue was full: it does not keep up.
    Slow,
    /// The gateway is stopping (printer actors or the store are gone).
    Stopping,
}

/// Upgrades (the router's read-access layer has already checked the key, header or
/// `?api_key=`).
pub(super) async fn upgrade(
    State(state): State<Arc<WebState>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade
            // Writes go out at once (each send flushes anyway).
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(MAX_INCOMING)
            .max_frame_size(MAX_INCOMING)
            .on_upgrade(move |socket| serve(socket, state)),
        Err(rejection) => handshake_refused(rejection).into_response(),
    }
}

/// A request that is not a WebSocket handshake gets the API's error shape, with axum's status
/// (400 for a missing or wrong header, 426 when the connection cannot be upgraded).
fn handshake_refused(rejection: WebSocketUpgradeRejection) -> ApiError {
    let message = rejection.body_text();
    if rejection.status() == StatusCode::UPGRADE_REQUIRED {
        ApiError::UpgradeRequired(message)
    } else {
        ApiError::BadRequest(message)
    }
}

async fn serve(socket: WebSocket, state: Arc<WebState>) {
    let _counted = state.metrics.ws_client();
    let (mut sink, mut stream) = socket.split();
    let end = feed(&state, &mut sink, &mut stream).await;
    // The queue's receiver is gone with `feed`: the feed may stop if this was the last.
    state.feed.left();
    let close = match end {
        End::ClientGone => None,
        End::Slow => {
            state.metrics.ws_client_dropped();
            // Whatever was queued is dropped: the client is told to come back instead.
            Some((close_code::AGAIN, "client too slow"))
        }
        // The feed has stopped, and everything it queued has been sent.
        End::Stopping => Some((close_code::AWAY, "gateway stopping")),
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Joins the feed, sends the snapshot, then every frame after it, until the client goes,
/// falls behind, or the feed stops.
async fn feed(state: &WebState, sink: &mut Sink, stream: &mut Stream) -> End {
    let (queue, mut frames) = mpsc::channel(CLIENT_QUEUE);
    let slow = CancellationToken::new();
    let client = Client {
        queue,
        slow: slow.clone(),
    };
    // Join before reading the snapshot: every event after its `seq` is then in the queue.
    let Ok(printers) = state
        .feed
        .join(
            &state.gateway,
            &state.gateway_id,
            state.cloud_certificate.as_ref(),
            client,
        )
        .await
    else {
        return End::Stopping;
    };
    let Ok(snapshot) = Snapshot::read(
        &state.gateway,
        &state.gateway_id,
        state.cloud_certificate.as_ref(),
        printers,
    )
    .await
    else {
        return End::Stopping;
    };
    if let Err(end) = send(sink, &snapshot.frame, &slow).await {
        return end;
    }
    loop {
        let frame = tokio::select! {
            biased;
            _ = slow.cancelled() => return End::Slow,
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return End::ClientGone,
                // Pings are answered by the socket while it is read; the rest is ignored.
                Some(Ok(_)) => continue,
            },
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None if slow.is_cancelled() => return End::Slow,
                None => return End::Stopping,
            },
        };
        if frame.covered_by(snapshot.seq) {
            continue;
        }
        if let Err(end) = send(sink, &frame, &slow).await {
            return end;
        }
    }
}

/// Sends one frame; gives up when the feed declares the client slow meanwhile.
async fn send(sink: &mut Sink, frame: &Frame, slow: &CancellationToken) -> Result<(), End> {
    tokio::select! {
        biased;
        _ = slow.cancelled() => Err(End::Slow),
        sent = sink.send(frame.message()) => sent.map_err(|_| End::ClientGone),
    }
}
