//! The nats-server configuration parser: lexical items into a [`Map`] of
//! positioned [`Value`]s, with `$variables`, environment fallback and
//! `include` (nats-server's `conf/parse.go`, pedantic mode).

use std::collections::BTreeSet;
use std::rc::Rc;

use super::gofmt::{dir_path, join_path};
use super::lexer::{lex, Item, ItemType};
use super::value::{Kind, Map, Pos, Value};
use super::ConfigSource;

/// Includes (and environment values that are themselves parsed) may nest
/// this deep; the reference recurses until its stack overflows.
const MAX_DEPTH: usize = 64;

enum Ctx {
    Map(Map),
    Array(Vec<Value>),
}

struct Parser<'s> {
    source: &'s dyn ConfigSource,
    ctxs: Vec<Ctx>,
    keys: Vec<String>,
    ikeys: Vec<(usize, i64)>,
    /// The file as nats-server names it in positions.
    fp: Rc<str>,
    /// `filepath.Dir(fp)`: includes are relative to it.
    dir: String,
    pedantic: bool,
    depth: usize,
}

/// Parses a config file the way `nats-server -c` does (pedantic mode):
/// reads `path` through `source`, follows includes and variables.
///
/// `Err` holds the exact message nats-server prints after `nats-server: `.
pub fn parse_file(path: &str, source: &dyn ConfigSource) -> Result<Map, String> {
    let data = source.read_file(path)?;
    let mut env_refs = BTreeSet::new();
    parse_data(data.as_bytes(), path, source, &mut env_refs, true, 0)
}

/// Parses config text that did not come from a file (positions name the
/// file as empty, like nats-server's `ProcessConfigString`).
pub fn parse_str(data: &str, source: &dyn ConfigSource) -> Result<Map, String> {
    let mut env_refs = BTreeSet::new();
    parse_data(data.as_bytes(), "", source, &mut env_refs, true, 0)
}

fn parse_data(
    data: &[u8],
    fp: &str,
    source: &dyn ConfigSource,
    env_refs: &mut BTreeSet<String>,
    pedantic: bool,
    depth: usize,
) -> Result<Map, String> {
    let mut p = Parser {
        source,
        ctxs: vec![Ctx::Map(Map::default())],
        keys: Vec::new(),
        ikeys: Vec::new(),
        fp: Rc::from(fp),
        dir: dir_path(fp),
        pedantic,
        depth,
    };
    let items = lex(data);
    let mut prev: Option<(ItemType, String)> = None;
    for it in items {
        if it.typ == ItemType::Eof {
            // The final item may be a '}' (JSON-like configs) but not a
            // dangling key.
            if let Some((ItemType::Key, v)) = &prev {
                if v != "}" {
                    return Err(format!("config is invalid ({}:{}:{})", fp, it.line, it.pos));
                }
            }
            break;
        }
        prev = Some((it.typ, it.val.clone()));
        p.process_item(it, env_refs)?;
    }
    match p.ctxs.into_iter().next() {
        Some(Ctx::Map(m)) => Ok(m),
        Some(Ctx::Array(_)) | None => Err("BUG in parser, context stack empty".into()),
    }
}

fn parse_integer(val: &str) -> Result<Option<i64>, String> {
    let last_digit = val
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .count();
    let num_str = &val[..last_digit];
    let num: i64 = match num_str.parse::<i64>() {
        Ok(n) => n,
        Err(e) => {
            use std::num::IntErrorKind::{NegOverflow, PosOverflow};
            return if matches!(e.kind(), PosOverflow | NegOverflow) {
                Err(format!("integer '{val}' is out of the range"))
            } else {
                Err(format!("expected integer, but got '{val}'"))
            };
        }
    };
    let suffix = val[last_digit..].trim().to_ascii_lowercase();
    let m = |k: i64, n: u32| -> i64 {
        let mut v = num;
        for _ in 0..n {
            v = v.wrapping_mul(k);
        }
        v
    };
    Ok(match suffix.as_str() {
        "" => Some(num),
        "k" => Some(m(1000, 1)),
        "kb" | "ki" | "kib" => Some(m(1024, 1)),
        "m" => Some(m(1000, 2)),
        "mb" | "mi" | "mib" => Some(m(1024, 2)),
        "g" => Some(m(1000, 3)),
        "gb" | "gi" | "gib" => Some(m(1024, 3)),
        "t" => Some(m(1000, 4)),
        "tb" | "ti" | "tib" => Some(m(1024, 4)),
        "p" => Some(m(1000, 5)),
        "pb" | "pi" | "pib" => Some(m(1024, 5)),
        "e" => Some(m(1000, 6)),
        "eb" | "ei" | "eib" => Some(m(1024, 6)),
        // Unknown suffix (`5kbb`): the reference silently sets nothing.
        _ => None,
    })
}

fn valid_datetime(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 20 {
        return false;
    }
    let num = |a: usize, n: usize| -> Option<u32> {
        std::str::from_utf8(b.get(a..a + n)?).ok()?.parse().ok()
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    ) else {
        return false;
    };
    if !(1..=12).contains(&mo) || h > 23 || mi > 59 || s > 59 || d < 1 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

impl Parser<'_> {
    fn value(&self, it: &Item, kind: Kind) -> Value {
        Value {
            kind,
            pos: Pos {
                file: self.fp.clone(),
                line: it.line,
                col: it.pos,
            },
            used_variable: false,
        }
    }

    fn set_value(&mut self, mut v: Value) -> Result<(), String> {
        match self.ctxs.last_mut() {
            Some(Ctx::Array(a)) => {
                a.push(v);
                Ok(())
            }
            Some(Ctx::Map(m)) => {
                let key = self
                    .keys
                    .pop()
                    .ok_or_else(|| "BUG in parser, keys stack empty".to_string())?;
                if let Some((line, pos)) = self.ikeys.pop() {
                    if self.pedantic {
                        // Errors about a map value point at its key.
                        v.pos.line = line;
                        v.pos.col = pos;
                    }
                }
                m.insert(key, v);
                Ok(())
            }
            None => Err("BUG in parser, context stack empty".into()),
        }
    }

    fn pop_context(&mut self) -> Result<Kind, String> {
        if self.ctxs.len() <= 1 {
            return Err("BUG in parser, context stack empty".into());
        }
        match self.ctxs.pop() {
            Some(Ctx::Map(m)) => Ok(Kind::Map(m)),
            Some(Ctx::Array(a)) => Ok(Kind::Array(a)),
            None => Err("BUG in parser, context stack empty".into()),
        }
    }

    fn process_item(&mut self, it: Item, env_refs: &mut BTreeSet<String>) -> Result<(), String> {
        match it.typ {
            ItemType::Error => Err(format!("Parse error on line {}: '{}'", it.line, it.val)),
            ItemType::Key => {
                self.keys.push(it.val.clone());
                self.ikeys.push((it.line, it.pos));
                Ok(())
            }
            ItemType::MapStart => {
                self.ctxs.push(Ctx::Map(Map::default()));
                Ok(())
            }
            ItemType::MapEnd | ItemType::ArrayEnd => {
                let kind = self.pop_context()?;
                let v = self.value(&it, kind);
                self.set_value(v)
            }
            ItemType::ArrayStart => {
                self.ctxs.push(Ctx::Array(Vec::new()));
                Ok(())
            }
            ItemType::String => {
                let v = self.value(&it, Kind::String(it.val.clone()));
                self.set_value(v)
            }
            ItemType::Integer => match parse_integer(&it.val)? {
                Some(n) => {
                    let v = self.value(&it, Kind::Integer(n));
                    self.set_value(v)
                }
                None => Ok(()),
            },
            ItemType::Float => {
                let x: f64 = it
                    .val
                    .parse()
                    .map_err(|_| format!("expected float, but got '{}'", it.val))?;
                if x.is_infinite() {
                    return Err(format!("float '{}' is out of the range", it.val));
                }
                let v = self.value(&it, Kind::Float(x));
                self.set_value(v)
            }
            ItemType::Bool => {
                let b = match it.val.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => true,
                    "false" | "no" | "off" => false,
                    _ => return Err(format!("expected boolean value, but got '{}'", it.val)),
                };
                let v = self.value(&it, Kind::Bool(b));
                self.set_value(v)
            }
            ItemType::Datetime => {
                if !valid_datetime(&it.val) {
                    return Err(format!(
                        "expected Zulu formatted DateTime, but got '{}'",
                        it.val
                    ));
                }
                let v = self.value(&it, Kind::Datetime(it.val.clone()));
                self.set_value(v)
            }
            ItemType::Variable => {
                let found = self.lookup_variable(&it.val, env_refs).map_err(|e| {
                    format!(
                        "variable reference for '{}' on line {} could not be parsed: {}",
                        it.val, it.line, e
                    )
                })?;
                let Some(kind) = found else {
                    return Err(format!(
                        "variable reference for '{}' on line {} can not be found",
                        it.val, it.line
                    ));
                };
                let v = self.value(&it, kind);
                self.set_value(v)
            }
            ItemType::Include => {
                let path = join_path(&self.dir, &it.val);
                let wrap = |e: String| format!("error parsing include file '{}', {}", it.val, e);
                if self.depth >= MAX_DEPTH {
                    return Err(wrap("includes nested too deeply".into()));
                }
                let data = self.source.read_file(&path).map_err(|e| {
                    if self.pedantic {
                        wrap(e)
                    } else {
                        wrap(format!("error opening config file: {e}"))
                    }
                })?;
                let mut fresh = BTreeSet::new();
                let m = parse_data(
                    data.as_bytes(),
                    &path,
                    self.source,
                    &mut fresh,
                    self.pedantic,
                    self.depth + 1,
                )
                .map_err(wrap)?;
                for (k, v) in m.entries {
                    self.keys.push(k);
                    self.ikeys.push((v.pos.line, v.pos.col));
                    self.set_value(v)?;
                }
                Ok(())
            }
            ItemType::Eof | ItemType::Text | ItemType::CommentStart => Ok(()),
        }
    }

    /// Block-scoped lookup through the enclosing maps, then the
    /// environment (whose text is parsed as a config value).
    fn lookup_variable(
        &mut self,
        name: &str,
        env_refs: &mut BTreeSet<String>,
    ) -> Result<Option<Kind>, String> {
        // Unquoted bcrypt hashes are taken literally.
        if name.starts_with("2a$") {
            return Ok(Some(Kind::String(format!("${name}"))));
        }
        for ctx in self.ctxs.iter_mut().rev() {
            if let Ctx::Map(m) = ctx {
                if let Some(v) = m.get_mut(name) {
                    v.used_variable = true;
                    return Ok(Some(v.kind.clone()));
                }
            }
        }
        if env_refs.contains(name) {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        let Some(val) = self.source.env(name) else {
            return Ok(None);
        };
        if self.depth >= MAX_DEPTH {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        env_refs.insert(name.to_string());
        let text = format!("pk={val}");
        let res = parse_data(
            text.as_bytes(),
            "",
            self.source,
            env_refs,
            false,
            self.depth + 1,
        );
        env_refs.remove(name);
        let m = res?;
        Ok(m.get("pk").map(|v| v.kind.clone()))
    }
}
