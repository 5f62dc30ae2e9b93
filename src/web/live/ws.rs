//! `GET /api/ws`: the socket side of a live client. A writer task drains the client's bounded
//! queue into the socket; a reader task answers pings and notices the client leaving; the
//! feed (`feed.rs`) fills the queue. The gateway never waits on a client: the feed only
//! `try_send`s, and a client whose queue is full is closed with 1013 ("try again later").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::feed::{Feed, FeedEnd};
use crate::web::WebState;

/// Messages waiting for one client's socket. Events come one per state change, so a client
/// that reads keeps this nearly empty; when it is full the client is not keeping up: the
/// feed stops, the queued messages are dropped and the socket is closed with 1013.
pub(super) const CLIENT_QUEUE: usize = 256;
/// How long a closing client gets to take its close frame before the connection is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Clients send nothing but control frames; anything bigger than this is refused.
const MAX_INCOMING: usize = 4 << 10;

type Sink = SplitSink<WebSocket, Message>;

/// Upgrades (the router's read-access layer has already checked the key, header or
/// `?api_key=`).
pub(super) async fn upgrade(
    State(state): State<Arc<WebState>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade
            // The read buffer is allocated up front (128 KiB by default) and clients send
            // only control frames; writes go out at once (each send flushes anyway).
            .read_buffer_size(MAX_INCOMING)
            .write_buffer_size(0)
            .max_message_size(MAX_INCOMING)
            .max_frame_size(MAX_INCOMING)
            .on_upgrade(move |socket| serve(socket, state)),
        Err(rejection) => rejection.into_response(),
    }
}

async fn serve(socket: WebSocket, state: Arc<WebState>) {
    let _counted = state.metrics.ws_client();
    let (sink, stream) = socket.split();
    let (queue, pending) = mpsc::channel(CLIENT_QUEUE);
    let gone = CancellationToken::new();
    let abort = CancellationToken::new();
    let writer = tokio::spawn(write(sink, pending, abort.clone(), gone.clone()));
    let reader = tokio::spawn(read(stream, gone.clone()));
    let end = Feed::new(state.clone(), queue).run(&gone).await;
    let close = match end {
        FeedEnd::ClientGone => {
            abort.cancel();
            None
        }
        FeedEnd::Slow => {
            state.metrics.ws_client_dropped();
            // Whatever is queued is dropped: the client is told to come back instead.
            abort.cancel();
            Some((close_code::AGAIN, "client too slow"))
        }
        // The queue's sender is gone: the writer sends what is queued, then hands back.
        FeedEnd::Stopping => Some((close_code::AWAY, "gateway stopping")),
    };
    if let (Ok(mut sink), Some((code, reason))) = (writer.await, close) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
    reader.abort();
}

/// Sends queued messages until the queue closes, the client goes, or `abort`; returns the
/// sink for the close frame.
async fn write(
    mut sink: Sink,
    mut pending: mpsc::Receiver<Message>,
    abort: CancellationToken,
    gone: CancellationToken,
) -> Sink {
    loop {
        let message = tokio::select! {
            biased;
            _ = abort.cancelled() => break,
            message = pending.recv() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let sent = tokio::select! {
            _ = abort.cancelled() => break,
            sent = sink.send(message) => sent,
        };
        if sent.is_err() {
            gone.cancel();
            break;
        }
    }
    sink
}

/// Reads until the client closes or the connection fails. Pings are answered by the socket
/// while it is read; anything else the client sends is ignored.
async fn read(mut stream: SplitStream<WebSocket>, gone: CancellationToken) {
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
    gone.cancel();
}
