//! CSV exports written as they are read from the database, never built whole in memory.
//!
//! The export runs in a task of its own, which owns its transaction and sends the text a chunk
//! at a time through a channel a few chunks deep: it reads no further than the client has
//! taken, so the memory an export holds stays the same however many rows it has. A client that
//! goes away closes the channel, and the task stops reading and rolls back. Everything that can
//! be refused is refused before the first byte (the answer's status is sent with it); a failure
//! after that cuts the response short, which a client sees as a broken transfer, never as a
//! complete file.

use crate::problem::ApiError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// How much text is gathered before it is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait for the client.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Exports this instance runs at once. Each holds a database connection for as long as it
/// runs (a referral export two: one reading, one recording the reads in the audit log), so
/// they are limited to leave the pool to everything else.
pub struct ExportSlots(Arc<Semaphore>);

impl ExportSlots {
    pub fn new(slots: usize) -> Self {
        Self(Arc::new(Semaphore::new(slots.max(1))))
    }

    /// A slot for one export, held until it ends; `503 exports_busy` when all are taken.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.0
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy {
                code: "exports_busy",
                detail:
                    "this server is running as many exports as it may at once; try again shortly"
                        .into(),
                retry_after: Duration::from_secs(5),
            })
    }
}

/// The client has gone; stop exporting.
#[derive(Debug)]
pub struct ClientGone;

/// Where an export writes its lines.
pub struct CsvWriter {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: String,
}

impl CsvWriter {
    /// Adds one line (its cells already written as CSV), sending the text gathered so far
    /// once it is a chunk's worth.
    pub async fn line(&mut self, line: &str) -> Result<(), ClientGone> {
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what has been gathered, waiting while the client is behind.
    pub async fn flush(&mut self) -> Result<(), ClientGone> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            String::with_capacity(CHUNK_BYTES + 1024),
        ));
        self.sender.send(Ok(chunk)).await.map_err(|_| ClientGone)
    }
}

/// Why an export ended early.
pub enum ExportError {
    ClientGone,
    Failed(ApiError),
}

impl From<ClientGone> for ExportError {
    fn from(_: ClientGone) -> Self {
        ExportError::ClientGone
    }
}

impl From<ApiError> for ExportError {
    fn from(error: ApiError) -> Self {
        ExportError::Failed(error)
    }
}

impl From<waymark_persistence::StoreError> for ExportError {
    fn from(error: waymark_persistence::StoreError) -> Self {
        ExportError::Failed(error.into())
    }
}

/// Answers `200 text/csv` named `filename`, with `header` as its first line and what `export`
/// writes after it, streamed; `export` hands its writer back when it has written every row.
/// `extra` headers go out with the status (before any row).
pub fn stream<F, Fut>(
    slot: OwnedSemaphorePermit,
    filename: &str,
    header: &str,
    extra: &[(&'static str, String)],
    export: F,
) -> HttpResponse
where
    F: FnOnce(CsvWriter) -> Fut + 'static,
    Fut: Future<Output = Result<CsvWriter, ExportError>> + 'static,
{
    let (sender, mut receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let mut writer = CsvWriter {
        sender: sender.clone(),
        buffer: String::with_capacity(CHUNK_BYTES + 1024),
    };
    writer.buffer.push_str(header);
    writer.buffer.push('\n');
    actix_web::rt::spawn(async move {
        let _slot = slot;
        let outcome = match export(writer).await {
            Ok(mut writer) => writer.flush().await.map_err(ExportError::from),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) | Err(ExportError::ClientGone) => {}
            Err(ExportError::Failed(error)) => {
                tracing::error!(%error, "an export failed part-way; the response is cut short");
                let _ = sender
                    .send(Err(std::io::Error::other("the export failed part-way")))
                    .await;
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    for (name, value) in extra {
        response.insert_header((*name, value.as_str()));
    }
    response.streaming(body)
}
