//! The processing context every section parser shares: Go's type
//! assertions as [`P`] results ([`want_str`], [`want_int`], ...), the
//! panic that unwinds to the nearest deferred handler ([`Cx::catch`]),
//! error recording ([`Record`]) and the small field parsers several
//! sections use. `process.rs` dispatches to the sections; the sections
//! and `process.rs` use this; this uses neither.

use super::gofmt::{parse_duration, quote, GoDuration};
use super::value::{Kind, Map, Pos, Value};
use super::{ConfigSource, DiagKind, Diagnostic};

/// `write_timeout`: what to do when a write deadline passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteTimeoutPolicy {
    /// Not set / `default`.
    #[default]
    Default,
    /// `close`.
    Close,
    /// `retry`.
    Retry,
}

/// A Go runtime panic on its way to the nearest deferred handler.
#[derive(Debug)]
pub(crate) struct Panic(pub String);

/// Result of code that may "panic" like the reference.
pub(crate) type P<T> = Result<T, Panic>;

/// Go's message for using the nil result of a function that panicked.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

/// The panic of using a nil result (for `Option::ok_or_else`).
pub(crate) fn nil_panic() -> Panic {
    Panic(NIL_DEREF.into())
}

/// The last value looked at (Go's `lt` token), for panic positions.
#[derive(Default)]
pub(crate) struct Lt(pub Option<Pos>);

impl Lt {
    /// Go's `unwrapValue(v, &lt)`.
    pub fn set<'v>(&mut self, v: &'v Value) -> &'v Value {
        self.0 = Some(v.pos.clone());
        v
    }
}

pub(crate) fn conversion(v: &Value, want: &str) -> Panic {
    Panic(format!(
        "interface conversion: interface {{}} is {}, not {}",
        v.kind.go_type(),
        want
    ))
}

/// `v.(string)`.
pub(crate) fn want_str(v: &Value) -> P<&str> {
    v.as_str().ok_or_else(|| conversion(v, "string"))
}

/// `v.(int64)`.
pub(crate) fn want_int(v: &Value) -> P<i64> {
    v.as_int().ok_or_else(|| conversion(v, "int64"))
}

/// `v.(bool)`.
pub(crate) fn want_bool(v: &Value) -> P<bool> {
    v.as_bool().ok_or_else(|| conversion(v, "bool"))
}

/// `v.(string)`, copied.
pub(crate) fn want_string(v: &Value) -> P<String> {
    want_str(v).map(str::to_string)
}

/// `v.(map[string]any)`.
pub(crate) fn want_map(v: &Value) -> P<&Map> {
    v.as_map()
        .ok_or_else(|| conversion(v, "map[string]interface {}"))
}

/// `v.([]any)`.
pub(crate) fn want_array(v: &Value) -> P<&[Value]> {
    v.as_array().ok_or_else(|| conversion(v, "[]interface {}"))
}

/// `?` for the inner result of a `P<Result<T, Diagnostic>>` function: an
/// error ends the function with `Ok(Err(e))`.
macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}
pub(crate) use or_return;

/// Error and warning collector.
pub(crate) struct Cx<'a> {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub source: &'a dyn ConfigSource,
}

impl Cx<'_> {
    /// `configErr{tk, reason}`.
    pub fn err(&mut self, pos: &Pos, reason: impl Into<String>) {
        self.errors.push(Diagnostic::plain(Some(pos), reason));
    }

    /// An error without a position.
    pub fn err_plain(&mut self, reason: impl Into<String>) {
        self.errors.push(Diagnostic::plain(None, reason));
    }

    /// `unknownConfigFieldErr`, unless the key was used as a variable.
    pub fn unknown(&mut self, v: &Value, field: &str) {
        if !v.used_variable {
            self.errors.push(Diagnostic {
                pos: Some(v.pos.clone()),
                kind: DiagKind::UnknownField(field.to_string()),
                reason: String::new(),
            });
        }
    }

    /// `Unknown field {field} parsing {what}`, unless the key was used as
    /// a variable.
    pub fn unknown_parsing(&mut self, v: &Value, field: &str, what: &str) {
        if !v.used_variable {
            self.err(
                &v.pos,
                format!("Unknown field {} parsing {what}", quote(field)),
            );
        }
    }

    /// `configWarningErr` (a warning).
    pub fn warn_use(&mut self, pos: &Pos, field: &str, reason: impl Into<String>) {
        self.warnings.push(Diagnostic {
            pos: Some(pos.clone()),
            kind: DiagKind::InvalidUse(field.to_string()),
            reason: reason.into(),
        });
    }

    /// A plain `configErr` appended to the warnings.
    pub fn warn(&mut self, pos: Option<&Pos>, reason: impl Into<String>) {
        self.warnings.push(Diagnostic::plain(pos, reason));
    }

    /// Go's `defer convertPanicToErrorList(&lt, errors)`.
    pub fn catch<T>(&mut self, lt: &Lt, r: P<T>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(Panic(msg)) => {
                match &lt.0 {
                    Some(p) => self.err(p, msg),
                    None => self.err_plain(format!("encountered panic without a token {msg}")),
                }
                None
            }
        }
    }
}

impl<'a> Cx<'a> {
    /// Runs `f` under its own `defer convertPanicToErrorList(&lt, ...)`:
    /// `None` when it panicked (the Go function then returns nil).
    pub fn guard<T>(&mut self, f: impl FnOnce(&mut Cx<'a>, &mut Lt) -> P<T>) -> Option<T> {
        let mut lt = Lt::default();
        let r = f(self, &mut lt);
        self.catch(&lt, r)
    }

    /// The frame of `parseCluster`, `parseGateway`, `parseLeafNodes`,
    /// `parseWebsocket` and `parseMQTT`: `v` must be a map (else
    /// `{not_map}, got {%T}`), `body` reads it under the block's own panic
    /// handler, and the error it returns is appended to the list.
    pub fn map_block<'v>(
        &mut self,
        v: &'v Value,
        not_map: &str,
        body: impl FnOnce(&mut Cx<'a>, &mut Lt, &'v Map) -> P<Result<(), Diagnostic>>,
    ) {
        let r = self.guard(|cx, lt| {
            let tk = lt.set(v);
            let Some(m) = tk.as_map() else {
                return Ok(Err(got_type(tk, not_map)));
            };
            body(cx, lt, m)
        });
        if let Some(Err(e)) = r {
            self.errors.push(e);
        }
    }
}

/// A sub-parser's result handled the way Go code handles
/// `x, err := parseX(...)`: an error is appended to the list (`None`: skip
/// the key), anything else is kept.
pub(crate) trait Record {
    /// What is kept.
    type Out;
    /// `Some` to keep, `None` once the error is recorded.
    fn record(self, cx: &mut Cx) -> Option<Self::Out>;
}

impl<T> Record for Result<T, Diagnostic> {
    type Out = T;
    fn record(self, cx: &mut Cx) -> Option<T> {
        match self {
            Ok(t) => Some(t),
            Err(e) => {
                cx.errors.push(e);
                None
            }
        }
    }
}

/// A parser that may have panicked: its nil result (`None`) is kept as
/// `Some(None)`.
impl<T> Record for Option<Result<T, Diagnostic>> {
    type Out = Option<T>;
    fn record(self, cx: &mut Cx) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(r) => r.record(cx).map(Some),
        }
    }
}

/// `{what}, got {%T of v}`, at `v`.
pub(crate) fn got_type(v: &Value, what: &str) -> Diagnostic {
    Diagnostic::plain(Some(&v.pos), format!("{what}, got {}", v.kind.go_type()))
}

/// `{what}, got {%v of v}`, at `v`.
pub(crate) fn got_value(v: &Value, what: &str) -> Diagnostic {
    Diagnostic::plain(Some(&v.pos), format!("{what}, got {}", v.kind.go_v()))
}

/// `{what}: unsupported type {%T of v}`, at `v`.
pub(crate) fn unsupported_type(v: &Value, what: &str) -> Diagnostic {
    Diagnostic::plain(
        Some(&v.pos),
        format!("{what}: unsupported type {}", v.kind.go_type()),
    )
}

/// Go's `defer convertPanicToError(&lt, &err)`: the panic becomes the
/// function's error.
pub(crate) fn catch_one<T>(lt: &Lt, r: P<Result<T, Diagnostic>>) -> Result<T, Diagnostic> {
    match r {
        Ok(x) => x,
        Err(Panic(msg)) => Err(Diagnostic::plain(lt.0.as_ref(), msg)),
    }
}

/// nats-server's `parseDuration`: a duration string, or (with a warning)
/// a number of seconds.
pub(crate) fn parse_duration_field(cx: &mut Cx, field: &str, v: &Value) -> P<GoDuration> {
    if let Some(s) = v.as_str() {
        return Ok(match parse_duration(s) {
            Ok(d) => d,
            Err(e) => {
                cx.err(&v.pos, format!("error parsing {field}: {e}"));
                0
            }
        });
    }
    cx.warn_use(
        &v.pos,
        field,
        format!("{field} should be converted to a duration"),
    );
    Ok(want_int(v)?.wrapping_mul(1_000_000_000))
}

/// A `timeout` in seconds: a number, or a duration string. `what` names
/// the block in errors (`error parsing {what} config, 'timeout' ...`).
pub(crate) fn timeout_seconds(tk: &Value, what: &str) -> Result<f64, Diagnostic> {
    let why = match &tk.kind {
        Kind::Integer(n) => return Ok(*n as f64),
        Kind::Float(x) => return Ok(*x),
        Kind::String(s) => match parse_duration(s) {
            Ok(d) => return Ok(d as f64 / 1e9),
            Err(e) => e,
        },
        Kind::Bool(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => "wrong type".into(),
    };
    Err(Diagnostic::plain(
        Some(&tk.pos),
        format!("error parsing {what} config, 'timeout' {why}"),
    ))
}

/// `write_timeout` values.
pub(crate) fn parse_write_timeout(cx: &mut Cx, v: &Value) -> P<WriteTimeoutPolicy> {
    Ok(match want_str(v)? {
        "default" => WriteTimeoutPolicy::Default,
        "close" => WriteTimeoutPolicy::Close,
        "retry" => WriteTimeoutPolicy::Retry,
        _ => {
            cx.err(
                &v.pos,
                "write_timeout must be 'default', 'close' or 'retry'",
            );
            WriteTimeoutPolicy::Default
        }
    })
}

/// Go's `net.SplitHostPort`.
pub(crate) fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = hp[1..end].to_string();
        j = 1;
        k = end + 1;
    } else {
        host = hp[..i].to_string();
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, hp[i + 1..].to_string()))
}

/// nats-server's `parseListen`: a port, or `host:port`.
pub(crate) fn parse_listen(v: &Value) -> Result<(String, i64), String> {
    match &v.kind {
        Kind::Integer(n) => Ok((String::new(), *n)),
        Kind::String(s) => {
            let (host, port) = split_host_port(s)
                .ok_or_else(|| format!("could not parse address string {}", quote(s)))?;
            let port: i64 = port
                .parse()
                .map_err(|_| format!("could not parse port {}", quote(&port)))?;
            Ok((host, port))
        }
        Kind::Bool(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => Err(
            format!("expected port or host:port, got {}", v.kind.go_type()),
        ),
    }
}

/// A block's `listen`: a port or `host:port` into its two fields.
pub(crate) fn set_listen(cx: &mut Cx, tk: &Value, host: &mut String, port: &mut i64) {
    match parse_listen(tk) {
        Ok((h, p)) => {
            *host = h;
            *port = p;
        }
        Err(e) => cx.err(&tk.pos, e),
    }
}

/// A `name` that may not contain spaces (`{what} name cannot contain
/// spaces`). `None`: the error was recorded.
pub(crate) fn spaceless_name(cx: &mut Cx, tk: &Value, what: &str) -> P<Option<String>> {
    let name = want_str(tk)?;
    if name.contains(' ') {
        cx.err(&tk.pos, format!("{what} name cannot contain spaces"));
        return Ok(None);
    }
    Ok(Some(name.to_string()))
}

/// `parseStringArray`: a string or an array of strings.
pub(crate) fn parse_string_array(
    cx: &mut Cx,
    field: &str,
    tk: &Value,
    lt: &mut Lt,
    v: &Value,
) -> Option<Vec<String>> {
    match &v.kind {
        Kind::String(s) => Some(vec![s.clone()]),
        Kind::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for e in a {
                let e = lt.set(e);
                match e.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => cx.err(
                        &e.pos,
                        format!(
                            "error parsing {field}: unsupported type in array {}",
                            e.kind.go_type()
                        ),
                    ),
                }
            }
            Some(out)
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Map(_) => {
            cx.err(
                &tk.pos,
                format!(
                    "error parsing {field}: unsupported type {}",
                    v.kind.go_type()
                ),
            );
            None
        }
    }
}
