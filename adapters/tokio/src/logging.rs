//! Log lines in nats-server's shape: `[pid] 2026/11/22 12:04:58.672058 [INF] text`.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as nats-server prints its log lines.
#[derive(Debug, Clone, Copy)]
pub struct NatsFormat {
    pid: u32,
}

impl NatsFormat {
    /// A formatter for this process.
    pub fn new() -> Self {
        NatsFormat {
            pid: std::process::id(),
        }
    }
}

impl Default for NatsFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, N> FormatEvent<S, N> for NatsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERR",
            Level::WARN => "WRN",
            Level::INFO => "INF",
            Level::DEBUG => "DBG",
            Level::TRACE => "TRC",
        };
        let now = chrono::Local::now().format("%Y/%m/%d %H:%M:%S%.6f");
        write!(writer, "[{}] {} [{}] ", self.pid, now, level)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The log destination: standard error, or a file that `SIGUSR1` reopens
/// (so log rotation tools can move it away).
#[derive(Clone, Debug)]
pub struct LogTarget {
    file: Option<(String, Arc<Mutex<File>>)>,
}

impl LogTarget {
    /// Standard error.
    pub fn stderr() -> Self {
        LogTarget { file: None }
    }

    /// Appends to `path`, creating it.
    pub fn file(path: &str) -> std::io::Result<Self> {
        let f = open_append(path)?;
        Ok(LogTarget {
            file: Some((path.to_string(), Arc::new(Mutex::new(f)))),
        })
    }

    /// Whether this logs to a file.
    pub fn is_file(&self) -> bool {
        self.file.is_some()
    }

    /// Opens the file path again (after rotation); no-op for stderr.
    pub fn reopen(&self) -> std::io::Result<()> {
        if let Some((path, file)) = &self.file {
            let fresh = open_append(path)?;
            *file.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        Ok(())
    }
}

fn open_append(path: &str) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// A writer for one log line.
pub enum LineWriter {
    /// To standard error.
    Stderr(std::io::Stderr),
    /// To the shared file.
    File(Arc<Mutex<File>>),
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LineWriter::Stderr(e) => e.write(buf),
            LineWriter::File(f) => f.lock().unwrap_or_else(|p| p.into_inner()).write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LineWriter::Stderr(e) => e.flush(),
            LineWriter::File(f) => f.lock().unwrap_or_else(|p| p.into_inner()).flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for LogTarget {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        match &self.file {
            None => LineWriter::Stderr(std::io::stderr()),
            Some((_, f)) => LineWriter::File(f.clone()),
        }
    }
}
