//! Logging: `tracing` everywhere in the core; this module installs the subscriber.
//!
//! Every formatted line passes through [`redact`](crate::redact::redact) before it reaches
//! a file or the terminal, so no code path can log a secret by mistake. Files rotate daily and the
//! newest [`KEPT_LOG_FILES`] are kept.

use std::io::{self, Write};
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::error::SamError;
use crate::redact::redact;

/// What is logged when `SAM_LOG` says nothing: SAM's own debug lines, everything else's info.
const DEFAULT_FILTER: &str = "info,sam_core=debug,sam_desktop=debug,sam=debug";

/// How many daily log files are kept.
pub const KEPT_LOG_FILES: usize = 7;

/// Keeps the background log writer alive; logs are flushed when it is dropped.
#[must_use = "logs stop being written when the guard is dropped"]
#[derive(Debug)]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// A subscriber that writes redacted, rotated log files into `log_dir` (and, when `to_stderr`,
/// redacted lines to standard error too), keeping what `filter` (`SAM_LOG`, in `tracing`'s
/// `EnvFilter` syntax) lets through; SAM's own debug lines and everything else's info lines when
/// there is none or it cannot be parsed.
pub fn subscriber(
    log_dir: &Path,
    file_prefix: &str,
    to_stderr: bool,
    filter: Option<&str>,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogGuard), SamError> {
    let unwritable = |err: &dyn std::fmt::Display| {
        SamError::configuration(
            format!(
                "SAM cannot write its log files in {}: {err}.",
                log_dir.display()
            ),
            "Make sure that folder is writable, or point SAM_DATA_DIR somewhere writable.",
        )
    };
    std::fs::create_dir_all(log_dir).map_err(|err| unwritable(&err))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(file_prefix)
        .filename_suffix("log")
        .max_log_files(KEPT_LOG_FILES)
        .build(log_dir)
        .map_err(|err| unwritable(&err))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = filter
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Redacting(writer));
    let stderr_layer = to_stderr.then(|| {
        tracing_subscriber::fmt::layer().with_writer(Redacting(io::stderr as fn() -> io::Stderr))
    });
    let subscriber = Registry::default()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer);
    Ok((subscriber, LogGuard(guard)))
}

/// Installs [`subscriber`] for the whole process.
pub fn init(
    log_dir: &Path,
    file_prefix: &str,
    to_stderr: bool,
    filter: Option<&str>,
) -> Result<LogGuard, SamError> {
    let (subscriber, guard) = subscriber(log_dir, file_prefix, to_stderr, filter)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|err| SamError::internal("Logging could not be started.", &err))?;
    Ok(guard)
}

/// Wraps a writer factory so each event's text is redacted before it is written.
#[derive(Debug, Clone)]
struct Redacting<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.0.make_writer(),
            buffer: Vec::new(),
        }
    }
}

/// Collects one event's text; redacts and forwards it when dropped (the formatter makes one
/// writer per event, so an event is never split across two redaction passes).
struct RedactingWriter<W: Write> {
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let clean = redact(&text);
        self.inner.write_all(clean.as_bytes())?;
        self.buffer.clear();
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write; dropping the line is the only option.
        let _ = self.flush();
    }
}
