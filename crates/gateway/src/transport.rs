//! The gRPC connection to BuildKit: HTTP/2 without TLS over the frontend
//! process's stdin (responses) and stdout (requests), or over any in-memory
//! stream in tests.

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};

/// gRPC message limit in both directions, as BuildKit's own client uses.
pub const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Opens a channel over stdin/stdout. Nothing else may use stdout afterwards:
/// it carries the gRPC stream (log to stderr instead).
pub async fn stdio_channel() -> Result<Channel, tonic::transport::Error> {
    channel_over(tokio::io::join(tokio::io::stdin(), tokio::io::stdout())).await
}

/// Opens a channel over one already-connected byte stream. The stream can be
/// handed out once; if the connection drops, reconnecting fails cleanly
/// instead of reusing a dead pipe.
pub async fn channel_over<IO>(io: IO) -> Result<Channel, tonic::transport::Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    // The URI is never dialled; it only names the authority in requests.
    Endpoint::from_static("http://buildkit-gateway")
        .connect_with_connector(tower::service_fn(move |_uri| {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            async move {
                taken.map(TokioIo::new).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotConnected,
                        "the gateway connection over stdio was closed and cannot be reopened",
                    )
                })
            }
        }))
        .await
}
