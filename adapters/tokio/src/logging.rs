//! Log lines in nats-server's shape: `[pid] 2026/11/22 12:04:58.672058 [INF] text`.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
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
