//! The parsed configuration tree: every value carries the file, line and
//! column nats-server would report for it.
//!
//! nats-server parses config files in "pedantic" mode, wrapping each value
//! in a token. A value stored under a map key takes the position of that
//! key; an array element keeps its own position (for a map or array element
//! that is the position of its closing bracket). Columns follow the
//! reference exactly, quirks included: on line 1 they count from 0, on later
//! lines from 1.

use std::fmt;
use std::rc::Rc;

use crate::info::push_json_string;

/// Where a value (or the key holding it) appears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    /// The file as nats-server names it (the `-c` path, or the joined path
    /// of an include).
    pub file: Rc<str>,
    /// 1-based line.
    pub line: usize,
    /// Column as nats-server computes it (byte based, see the module docs).
    pub col: i64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A config value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The value itself.
    pub kind: Kind,
    /// Position reported in errors about this value.
    pub pos: Pos,
    /// Set when this value was referenced as a `$variable`: such keys are
    /// exempt from the unknown-field check.
    pub used_variable: bool,
}

/// The shapes a config value can take (nats-server's Go types).
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A quoted, unquoted or block string.
    String(String),
    /// `true/false/yes/no/on/off` (unquoted, any case).
    Bool(bool),
    /// An integer, size suffixes already applied.
    Integer(i64),
    /// A floating point number.
    Float(f64),
    /// A Zulu date-time literal, kept as written (`2006-01-02T15:04:05Z`).
    Datetime(String),
    /// `[ ... ]`.
    Array(Vec<Value>),
    /// `{ ... }` (or the top level).
    Map(Map),
}

impl Kind {
    /// The Go type name nats-server prints for this value (`%T`, and in
    /// failed type assertions).
    pub fn go_type(&self) -> &'static str {
        match self {
            Kind::String(_) => "string",
            Kind::Bool(_) => "bool",
            Kind::Integer(_) => "int64",
            Kind::Float(_) => "float64",
            Kind::Datetime(_) => "time.Time",
            Kind::Array(_) => "[]interface {}",
            Kind::Map(_) => "map[string]interface {}",
        }
    }

    /// Go's `%v` rendering of the value (maps and arrays approximately:
    /// the reference prints pointers there).
    pub fn go_v(&self) -> String {
        match self {
            Kind::String(s) => s.clone(),
            Kind::Bool(b) => b.to_string(),
            Kind::Integer(i) => i.to_string(),
            Kind::Float(x) => super::gofmt::format_float_v(*x),
            Kind::Datetime(d) => {
                // time.Time's String(): "2006-01-02 15:04:05 +0000 UTC".
                let t = d.replace('T', " ");
                format!("{} +0000 UTC", t.trim_end_matches('Z'))
            }
            Kind::Array(a) => {
                let parts: Vec<String> = a.iter().map(|v| v.kind.go_v()).collect();
                format!("[{}]", parts.join(" "))
            }
            Kind::Map(m) => {
                let mut parts: Vec<(&str, String)> = m
                    .entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.kind.go_v()))
                    .collect();
                parts.sort();
                let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", parts.join(" "))
            }
        }
    }
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        if let Kind::String(s) = &self.kind {
            Some(s)
        } else {
            None
        }
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        if let Kind::Integer(i) = self.kind {
            Some(i)
        } else {
            None
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        if let Kind::Bool(b) = self.kind {
            Some(b)
        } else {
            None
        }
    }

    /// The map, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        if let Kind::Map(m) = &self.kind {
            Some(m)
        } else {
            None
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        if let Kind::Array(a) = &self.kind {
            Some(a)
        } else {
            None
        }
    }
}

/// A map in the order its keys were (last) set. Keys are unique; setting a
/// key again replaces the old value and moves the key to the end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    /// `(key as written, value)` pairs.
    pub entries: Vec<(String, Value)>,
}

impl Map {
    /// Looks a key up exactly (case-sensitive, like Go map access).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Mutable exact lookup.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Sets a key (last one wins).
    pub fn insert(&mut self, key: String, value: Value) {
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, value));
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates `(key, value)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Go's `encoding/json` rendering of the parsed tree, used for the config
/// digest (`sha256:` of this text plus a newline is what `-t` prints).
pub fn to_go_json(m: &Map, out: &mut String) {
    let mut keys: Vec<(&str, &Value)> = m.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, k);
        out.push(':');
        value_json(v, out);
    }
    out.push('}');
}

fn value_json(v: &Value, out: &mut String) {
    match &v.kind {
        Kind::String(s) => push_json_string(out, s),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Integer(i) => out.push_str(&i.to_string()),
        Kind::Float(x) => out.push_str(&super::gofmt::format_float_json(*x)),
        Kind::Datetime(d) => push_json_string(out, d),
        Kind::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value_json(e, out);
            }
            out.push(']');
        }
        Kind::Map(m) => to_go_json(m, out),
    }
}
