//! The nats-server configuration lexer.
//!
//! A state machine that reproduces nats-server's `conf/lex.go` item by
//! item: the same items, the same line numbers and (quirky) columns, the
//! same error texts. Every state of the reference has a counterpart here;
//! the comments name the special cases that matter.
//!
//! One behaviour follows the 2.15.1 binary rather than the published
//! source: a size suffix followed by a digit (`1m30s`, `5k3`) makes the
//! whole token a string, so unquoted `1m30s` is a duration string.

/// Kinds of lexical items (nats-server's `itemType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemType {
    /// A lexing error; `val` holds the message.
    Error,
    /// End of input.
    Eof,
    /// A map or top-level key.
    Key,
    /// Comment text.
    Text,
    /// A string value.
    String,
    /// A boolean value.
    Bool,
    /// An integer value (possibly with a size suffix).
    Integer,
    /// A float value.
    Float,
    /// A Zulu date-time value.
    Datetime,
    /// `[`.
    ArrayStart,
    /// `]`.
    ArrayEnd,
    /// `{`.
    MapStart,
    /// `}`.
    MapEnd,
    /// Start of a comment.
    CommentStart,
    /// `$name` (without the `$`).
    Variable,
    /// `include path` (the path).
    Include,
}

/// One lexical item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Kind.
    pub typ: ItemType,
    /// Text (escapes processed).
    pub val: String,
    /// Line.
    pub line: usize,
    /// Column, as nats-server computes it.
    pub pos: i64,
    /// Length in bytes of the raw Go string (for position arithmetic).
    pub raw_len: usize,
}

use super::gofmt::unhex;

const EOF: char = '\0';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum S {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    DubQuotedKey,
    QuotedKey,
    IncludeStart,
    IncludeQuotedString,
    IncludeDubQuotedString,
    IncludeString,
    Include,
    Key,
    KeyEnd,
    Value,
    ArrayValue,
    ArrayValueEnd,
    ArrayEnd,
    MapKeyStart,
    MapQuotedKey,
    MapDubQuotedKey,
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    MapEnd,
    QuotedString,
    DubQuotedString,
    Str,
    Block,
    StringEscape,
    StringBinary,
    NumberStart,
    Number,
    ConvenientNumber,
    DateAfterYear,
    NegNumberStart,
    NegNumber,
    FloatStart,
    Float,
    IpAddr,
    CommentStart,
    Comment,
}

/// What a state returns: the next state, the next state after an
/// `ignore()` (Go's `lexSkip`), or the end of lexing.
enum Next {
    Go(S),
    Skip(S),
    Stop,
}

struct Lexer<'a> {
    input: &'a [u8],
    start: usize,
    pos: usize,
    width: usize,
    line: usize,
    stack: Vec<S>,
    string_parts: Vec<u8>,
    has_parts: bool,
    string_state: S,
    lstart: usize,
    ilstart: usize,
    items: Vec<Item>,
}

/// Go's `utf8.DecodeRune`: invalid input decodes as U+FFFD of width 1.
fn decode_rune(b: &[u8]) -> (char, usize) {
    let Some(&b0) = b.first() else {
        return (EOF, 0);
    };
    if b0 < 0x80 {
        return (b0 as char, 1);
    }
    let need = if b0 & 0xE0 == 0xC0 {
        2
    } else if b0 & 0xF0 == 0xE0 {
        3
    } else if b0 & 0xF8 == 0xF0 {
        4
    } else {
        return ('\u{FFFD}', 1);
    };
    if b.len() < need {
        return ('\u{FFFD}', 1);
    }
    match std::str::from_utf8(&b[..need]) {
        Ok(s) => match s.chars().next() {
            Some(c) => (c, need),
            None => ('\u{FFFD}', 1),
        },
        Err(_) => ('\u{FFFD}', 1),
    }
}

fn is_space(r: char) -> bool {
    r.is_whitespace()
}

fn is_whitespace(r: char) -> bool {
    r == '\t' || r == ' '
}

fn is_nl(r: char) -> bool {
    r == '\n' || r == '\r'
}

fn is_key_sep(r: char) -> bool {
    r == '=' || r == ':'
}

fn is_digit(r: char) -> bool {
    r.is_ascii_digit()
}

/// Runes that end an unquoted number.
fn ends_number(r: char) -> bool {
    is_nl(r) || r == EOF || r == '}' || r == ';' || r == ',' || is_whitespace(r)
}

fn is_number_suffix(r: char) -> bool {
    matches!(
        r,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// Go's `%v` of a rune inside a lexer error (`escapeSpecial`).
fn esc(r: char) -> String {
    if r == '\n' {
        "\\n".to_string()
    } else {
        r.to_string()
    }
}

impl<'a> Lexer<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lexer {
            input,
            start: 0,
            pos: 0,
            width: 0,
            line: 1,
            stack: Vec::new(),
            string_parts: Vec::new(),
            has_parts: false,
            string_state: S::Str,
            lstart: 0,
            ilstart: 0,
            items: Vec::new(),
        }
    }

    fn slice(&self, a: usize, b: usize) -> &'a [u8] {
        let a = a.min(self.input.len());
        let b = b.min(self.input.len()).max(a);
        &self.input[a..b]
    }

    fn push(&mut self, s: S) {
        self.stack.push(s);
    }

    fn pop(&mut self) -> Next {
        match self.stack.pop() {
            Some(s) => Next::Go(s),
            None => self.errorf("BUG in lexer: no states to pop.".to_string()),
        }
    }

    fn emit_raw(&mut self, typ: ItemType, raw: Vec<u8>) {
        let pos = self.pos as i64 - self.ilstart as i64 - raw.len() as i64;
        self.items.push(Item {
            typ,
            val: String::from_utf8_lossy(&raw).into_owned(),
            line: self.line,
            pos,
            raw_len: raw.len(),
        });
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    /// Go's `emit`: string parts are joined but NOT cleared.
    fn emit(&mut self, typ: ItemType) {
        let mut raw = self.string_parts.clone();
        raw.extend_from_slice(self.slice(self.start, self.pos));
        self.emit_raw(typ, raw);
    }

    /// Go's `emitString`: joins and clears the string parts.
    fn emit_string(&mut self) {
        let mut raw = std::mem::take(&mut self.string_parts);
        self.has_parts = false;
        raw.extend_from_slice(self.slice(self.start, self.pos));
        self.emit_raw(ItemType::String, raw);
    }

    fn add_current_string_part(&mut self, offset: usize) {
        let end = self.pos.saturating_sub(offset);
        let part = self.slice(self.start, end).to_vec();
        self.string_parts.extend_from_slice(&part);
        self.has_parts = true;
        self.start = self.pos;
    }

    fn add_string_part(&mut self, s: &[u8]) -> Next {
        self.string_parts.extend_from_slice(s);
        self.has_parts = true;
        self.start = self.pos;
        Next::Go(self.string_state)
    }

    fn next(&mut self) -> char {
        if self.pos >= self.input.len() {
            self.width = 0;
            return EOF;
        }
        if self.input[self.pos] == b'\n' {
            self.line += 1;
            self.lstart = self.pos;
        }
        let (r, w) = decode_rune(&self.input[self.pos..]);
        self.width = w;
        self.pos += w;
        r
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    fn backup(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
        if self.pos < self.input.len() && self.input[self.pos] == b'\n' {
            self.line = self.line.saturating_sub(1);
        }
    }

    fn peek(&mut self) -> char {
        let r = self.next();
        self.backup();
        r
    }

    fn errorf(&mut self, msg: String) -> Next {
        let pos = self.pos as i64 - self.lstart as i64;
        self.items.push(Item {
            typ: ItemType::Error,
            raw_len: msg.len(),
            val: msg,
            line: self.line,
            pos,
        });
        Next::Stop
    }

    /// After the rune that ends a token: emits the token before it.
    fn end_token(&mut self, typ: ItemType) -> Next {
        self.backup();
        self.emit(typ);
        self.pop()
    }

    /// A closing bracket: emits it.
    fn close_bracket(&mut self, typ: ItemType) -> Next {
        self.ignore();
        self.emit(typ);
        self.pop()
    }

    /// At a closing delimiter (a quote, a block's `)`): emits what
    /// precedes it (`emit`), skips it and returns to the pushed state.
    fn close_quote(&mut self, emit: fn(&mut Self)) -> Next {
        self.backup();
        emit(self);
        self.next();
        self.ignore();
        self.pop()
    }

    fn unexpected_eof_or_eof(&mut self) -> Next {
        if self.pos > self.start {
            return self.errorf("Unexpected EOF.".into());
        }
        self.emit(ItemType::Eof);
        Next::Stop
    }

    fn key_check_keyword(&mut self, fall_through: S, push: Option<S>) -> Next {
        let key = String::from_utf8_lossy(self.slice(self.start, self.pos)).to_lowercase();
        if key == "include" {
            self.ignore();
            if let Some(p) = push {
                self.push(p);
            }
            return Next::Go(S::IncludeStart);
        }
        self.emit(ItemType::Key);
        Next::Go(fall_through)
    }

    fn is_bool(&self) -> bool {
        let s = String::from_utf8_lossy(self.slice(self.start, self.pos)).to_lowercase();
        matches!(s.as_str(), "true" | "false" | "on" | "off" | "yes" | "no")
    }

    fn is_variable(&mut self) -> bool {
        if self.start >= self.input.len() {
            return false;
        }
        if self.input[self.start] == b'$' {
            self.start += 1;
            return true;
        }
        false
    }

    fn step(&mut self, s: S) -> Next {
        match s {
            S::Top => self.lex_keys_start(S::Top),
            S::TopValueEnd => self.lex_top_value_end(),
            S::BlockStart => self.lex_keys_start(S::BlockStart),
            S::BlockValueEnd => self.lex_block_value_end(),
            S::BlockEnd => self.lex_block_end(),
            S::KeyStart => self.lex_key_start(),
            S::DubQuotedKey => self.lex_quoted_key('"', false),
            S::QuotedKey => self.lex_quoted_key('\'', false),
            S::IncludeStart => {
                let r = self.next();
                if is_whitespace(r) {
                    return Next::Skip(S::IncludeStart);
                }
                self.backup();
                Next::Go(S::Include)
            }
            S::IncludeQuotedString => self.lex_include_quoted('\''),
            S::IncludeDubQuotedString => self.lex_include_quoted('"'),
            S::IncludeString => {
                let r = self.next();
                if is_nl(r) || r == EOF || r == ';' || r == '}' || is_whitespace(r) {
                    return self.end_token(ItemType::Include);
                }
                if r == '\'' {
                    return self.close_quote(|l| l.emit(ItemType::Include));
                }
                Next::Go(S::IncludeString)
            }
            S::Include => self.lex_include(),
            S::Key => self.lex_key(false),
            S::KeyEnd => self.lex_key_end(false),
            S::Value => self.lex_value(),
            S::ArrayValue => self.lex_array_value(),
            S::ArrayValueEnd => self.lex_array_value_end(),
            S::ArrayEnd => self.close_bracket(ItemType::ArrayEnd),
            S::MapKeyStart => self.lex_map_key_start(),
            S::MapQuotedKey => self.lex_quoted_key('\'', true),
            S::MapDubQuotedKey => self.lex_quoted_key('"', true),
            S::MapKey => self.lex_key(true),
            S::MapKeyEnd => self.lex_key_end(true),
            S::MapValue => {
                let r = self.next();
                if is_space(r) {
                    return Next::Skip(S::MapValue);
                }
                if r == ',' {
                    return self.errorf("Unexpected map value terminator \",\".".into());
                }
                if r == '}' {
                    return Next::Skip(S::MapEnd);
                }
                self.backup();
                self.push(S::MapValueEnd);
                Next::Go(S::Value)
            }
            S::MapValueEnd => self.lex_map_value_end(),
            S::MapEnd => self.close_bracket(ItemType::MapEnd),
            S::QuotedString => {
                let r = self.next();
                if r == '\'' {
                    return self.close_quote(|l| l.emit(ItemType::String));
                }
                if r == EOF {
                    return self.unexpected_eof_or_eof();
                }
                Next::Go(S::QuotedString)
            }
            S::DubQuotedString => {
                let r = self.next();
                if r == '\\' {
                    self.add_current_string_part(1);
                    return Next::Go(S::StringEscape);
                }
                if r == '"' {
                    return self.close_quote(Self::emit_string);
                }
                if r == EOF {
                    return self.unexpected_eof_or_eof();
                }
                Next::Go(S::DubQuotedString)
            }
            S::Str => self.lex_string(),
            S::Block => self.lex_block(),
            S::StringEscape => self.lex_string_escape(),
            S::StringBinary => self.lex_string_binary(),
            S::NumberStart => self.lex_number_start(S::Number),
            S::Number => self.lex_number(),
            S::ConvenientNumber => {
                let r = self.next();
                if matches!(r, 'b' | 'B' | 'i' | 'I') {
                    return Next::Go(S::ConvenientNumber);
                }
                self.backup();
                // The 2.15.1 binary: a digit after the suffix is not a
                // terminator (`1m30s` is a string).
                if ends_number(r) {
                    self.emit(ItemType::Integer);
                    return self.pop();
                }
                self.string_state = S::Str;
                Next::Go(S::Str)
            }
            S::DateAfterYear => self.lex_date_after_year(),
            S::NegNumberStart => self.lex_number_start(S::NegNumber),
            S::NegNumber => {
                let r = self.next();
                if is_digit(r) {
                    return Next::Go(S::NegNumber);
                }
                if r == '.' {
                    return Next::Go(S::FloatStart);
                }
                if is_number_suffix(r) {
                    return Next::Go(S::ConvenientNumber);
                }
                self.end_token(ItemType::Integer)
            }
            S::FloatStart => {
                let r = self.next();
                if !is_digit(r) {
                    return self.errorf(format!(
                        "Floats must have a digit after the '.', but got '{}' instead.",
                        esc(r)
                    ));
                }
                Next::Go(S::Float)
            }
            S::Float => {
                let r = self.next();
                if is_digit(r) {
                    return Next::Go(S::Float);
                }
                if r == '.' {
                    return Next::Go(S::IpAddr);
                }
                self.end_token(ItemType::Float)
            }
            S::IpAddr => {
                let r = self.next();
                if is_digit(r) || r == '.' || r == ':' || r == '-' {
                    return Next::Go(S::IpAddr);
                }
                self.end_token(ItemType::String)
            }
            S::CommentStart => {
                self.ignore();
                self.emit(ItemType::CommentStart);
                Next::Go(S::Comment)
            }
            S::Comment => {
                let r = self.peek();
                if is_nl(r) || r == EOF {
                    self.emit(ItemType::Text);
                    return self.pop();
                }
                self.next();
                Next::Go(S::Comment)
            }
        }
    }

    /// After `r`: a `#` or `//` comment starts, and lexing resumes at
    /// `resume` after it. After a lone `/` the next rune is put back, and
    /// `None` says no comment started (as for any other rune).
    fn comment_start(&mut self, r: char, resume: S) -> Option<Next> {
        if r == '/' {
            if self.next() != '/' {
                self.backup();
                return None;
            }
        } else if r != '#' {
            return None;
        }
        self.push(resume);
        Some(Next::Go(S::CommentStart))
    }

    /// `lexTop` and `lexBlockStart` (`me`): where keys start, at the top
    /// level or inside a top-level `{ }` block.
    fn lex_keys_start(&mut self, me: S) -> Next {
        let block = me == S::BlockStart;
        let r = self.next();
        if is_space(r) {
            return Next::Skip(me);
        }
        if let Some(n) = self.comment_start(r, me) {
            return n;
        }
        match r {
            '{' => {
                self.push(if block { S::BlockEnd } else { S::Top });
                return Next::Skip(S::BlockStart);
            }
            '}' if block => {
                self.ignore();
                return self.pop();
            }
            '/' | EOF => return self.unexpected_eof_or_eof(),
            _ => {}
        }
        self.backup();
        self.push(if block {
            S::BlockValueEnd
        } else {
            S::TopValueEnd
        });
        Next::Go(S::KeyStart)
    }

    fn lex_top_value_end(&mut self) -> Next {
        let r = self.next();
        if let Some(n) = self.comment_start(r, S::Top) {
            return n;
        }
        if r == '/' || is_whitespace(r) {
            return Next::Go(S::TopValueEnd);
        }
        if is_nl(r) || r == EOF || r == ';' || r == ',' || r == '}' {
            self.ignore();
            return Next::Go(S::Top);
        }
        self.errorf(format!(
            "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
            esc(r)
        ))
    }

    fn lex_block_value_end(&mut self) -> Next {
        let r = self.next();
        if let Some(n) = self.comment_start(r, S::BlockValueEnd) {
            return n;
        }
        if r == '/' || is_whitespace(r) {
            return Next::Go(S::BlockValueEnd);
        }
        if is_nl(r) || r == ';' || r == ',' {
            self.ignore();
            return Next::Go(S::BlockStart);
        }
        if r == '}' {
            self.backup();
            return Next::Go(S::BlockEnd);
        }
        self.errorf(format!(
            "Expected a block-level value to end with a new line, comment or EOF, but got '{}' instead.",
            esc(r)
        ))
    }

    fn lex_block_end(&mut self) -> Next {
        let r = self.next();
        if let Some(n) = self.comment_start(r, S::BlockStart) {
            return n;
        }
        if r == '/' || is_nl(r) || is_whitespace(r) {
            return Next::Go(S::BlockEnd);
        }
        if r == ';' || r == ',' {
            self.ignore();
            return Next::Go(S::BlockStart);
        }
        if r == '}' {
            self.ignore();
            return self.pop();
        }
        self.errorf(format!(
            "Expected a block-level to end with a '}}', but got '{}' instead.",
            esc(r)
        ))
    }

    fn lex_key_start(&mut self) -> Next {
        let r = self.peek();
        if is_key_sep(r) {
            return self.errorf(format!("Unexpected key separator '{}'", esc(r)));
        }
        if is_space(r) {
            self.next();
            return Next::Skip(S::KeyStart);
        }
        if r == '"' {
            self.next();
            return Next::Skip(S::DubQuotedKey);
        }
        if r == '\'' {
            self.next();
            return Next::Skip(S::QuotedKey);
        }
        self.ignore();
        self.next();
        Next::Go(S::Key)
    }

    /// `lexKey`, `lexMapKey`: an unquoted key (`map`: inside a map).
    fn lex_key(&mut self, map: bool) -> Next {
        let (me, end) = if map {
            (S::MapKey, S::MapKeyEnd)
        } else {
            (S::Key, S::KeyEnd)
        };
        let r = self.peek();
        if r == EOF && map {
            return self.errorf("Unexpected EOF processing map key.".into());
        }
        if is_space(r) {
            return self.key_check_keyword(end, map.then_some(S::MapValueEnd));
        }
        if is_key_sep(r) || r == EOF {
            self.emit(ItemType::Key);
            return Next::Go(end);
        }
        self.next();
        Next::Go(me)
    }

    /// `lexKeyEnd`, `lexMapKeyEnd`: up to the value.
    fn lex_key_end(&mut self, map: bool) -> Next {
        let (me, value) = if map {
            (S::MapKeyEnd, S::MapValue)
        } else {
            (S::KeyEnd, S::Value)
        };
        let r = self.next();
        if is_space(r) {
            return Next::Skip(me);
        }
        if is_key_sep(r) {
            return Next::Skip(value);
        }
        if r == EOF && !map {
            self.emit(ItemType::Eof);
            return Next::Stop;
        }
        self.backup();
        Next::Go(value)
    }

    /// A key quoted with `q` (`map`: inside a map).
    fn lex_quoted_key(&mut self, q: char, map: bool) -> Next {
        let dub = q == '"';
        let r = self.peek();
        if r == EOF {
            return match (map, dub) {
                (false, _) => self.unexpected_eof_or_eof(),
                (true, true) => {
                    self.errorf("Unexpected EOF processing double quoted map key.".into())
                }
                (true, false) => self.errorf("Unexpected EOF processing quoted map key.".into()),
            };
        }
        if r == q {
            self.emit(ItemType::Key);
            self.next();
            return Next::Skip(if map { S::MapKeyEnd } else { S::KeyEnd });
        }
        self.next();
        Next::Go(match (map, dub) {
            (false, true) => S::DubQuotedKey,
            (false, false) => S::QuotedKey,
            (true, true) => S::MapDubQuotedKey,
            (true, false) => S::MapQuotedKey,
        })
    }

    fn lex_include_quoted(&mut self, q: char) -> Next {
        let r = self.next();
        if r == q {
            return self.close_quote(|l| l.emit(ItemType::Include));
        }
        if r == EOF {
            return self.errorf(if q == '"' {
                "Unexpected EOF in double quoted include".into()
            } else {
                "Unexpected EOF in quoted include".into()
            });
        }
        Next::Go(if q == '"' {
            S::IncludeDubQuotedString
        } else {
            S::IncludeQuotedString
        })
    }

    fn lex_include(&mut self) -> Next {
        let r = self.next();
        match r {
            '\'' => {
                self.ignore();
                return Next::Go(S::IncludeQuotedString);
            }
            '"' => {
                self.ignore();
                return Next::Go(S::IncludeDubQuotedString);
            }
            '[' => return self.errorf("Expected include value but found start of an array".into()),
            '{' => return self.errorf("Expected include value but found start of a map".into()),
            '(' => return self.errorf("Expected include value but found start of a block".into()),
            '\\' => return self.errorf("Expected include value but found escape sequence".into()),
            _ => {}
        }
        if is_digit(r) || r == '-' {
            return self.errorf("Expected include value but found start of a number".into());
        }
        if is_nl(r) {
            return self.errorf("Expected include value but found new line".into());
        }
        self.backup();
        Next::Go(S::IncludeString)
    }

    fn lex_value(&mut self) -> Next {
        let r = self.next();
        if is_whitespace(r) {
            return Next::Skip(S::Value);
        }
        match r {
            '[' => {
                self.ignore();
                self.emit(ItemType::ArrayStart);
                return Next::Go(S::ArrayValue);
            }
            '{' => {
                self.ignore();
                self.emit(ItemType::MapStart);
                return Next::Go(S::MapKeyStart);
            }
            '\'' => {
                self.ignore();
                return Next::Go(S::QuotedString);
            }
            '"' => {
                self.ignore();
                self.string_state = S::DubQuotedString;
                return Next::Go(S::DubQuotedString);
            }
            '-' => return Next::Go(S::NegNumberStart),
            '(' => {
                self.ignore();
                return Next::Go(S::Block);
            }
            '.' => return self.errorf("Floats must start with a digit".into()),
            _ => {}
        }
        if is_digit(r) {
            self.backup();
            return Next::Go(S::NumberStart);
        }
        if is_nl(r) {
            return self.errorf("Expected value but found new line".into());
        }
        self.backup();
        self.string_state = S::Str;
        Next::Go(S::Str)
    }

    fn lex_array_value(&mut self) -> Next {
        let r = self.next();
        if is_space(r) {
            return Next::Skip(S::ArrayValue);
        }
        if let Some(n) = self.comment_start(r, S::ArrayValue) {
            return n;
        }
        match r {
            '/' | ',' => return self.errorf("Unexpected array value terminator ','.".into()),
            ']' => return Next::Go(S::ArrayEnd),
            _ => {}
        }
        self.backup();
        self.push(S::ArrayValueEnd);
        Next::Go(S::Value)
    }

    fn lex_array_value_end(&mut self) -> Next {
        let r = self.next();
        if is_whitespace(r) {
            return Next::Skip(S::ArrayValueEnd);
        }
        if let Some(n) = self.comment_start(r, S::ArrayValueEnd) {
            return n;
        }
        if r == ']' {
            return Next::Go(S::ArrayEnd);
        }
        if r == '/' || r == ',' || is_nl(r) {
            return Next::Skip(S::ArrayValue);
        }
        self.errorf(format!(
            "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
            esc(r)
        ))
    }

    fn lex_map_key_start(&mut self) -> Next {
        let r = self.peek();
        if is_key_sep(r) {
            return self.errorf(format!("Unexpected key separator '{}'.", esc(r)));
        }
        if r == ']' {
            return self.errorf(format!("Unexpected array end '{}' processing map.", esc(r)));
        }
        if is_space(r) {
            self.next();
            return Next::Skip(S::MapKeyStart);
        }
        match r {
            '}' => {
                self.next();
                return Next::Skip(S::MapEnd);
            }
            '#' | '/' => {
                self.next();
                if let Some(n) = self.comment_start(r, S::MapKeyStart) {
                    return n;
                }
            }
            '\'' => {
                self.next();
                return Next::Skip(S::MapQuotedKey);
            }
            '"' => {
                self.next();
                return Next::Skip(S::MapDubQuotedKey);
            }
            EOF => return self.errorf("Unexpected EOF processing map.".into()),
            _ => {}
        }
        self.ignore();
        self.next();
        Next::Go(S::MapKey)
    }

    fn lex_map_value_end(&mut self) -> Next {
        let r = self.next();
        if is_whitespace(r) {
            return Next::Skip(S::MapValueEnd);
        }
        if let Some(n) = self.comment_start(r, S::MapValueEnd) {
            return n;
        }
        if r == '/' || r == ';' || r == ',' || is_nl(r) {
            return Next::Skip(S::MapKeyStart);
        }
        if r == '}' {
            return Next::Skip(S::MapEnd);
        }
        self.errorf(format!(
            "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
            esc(r)
        ))
    }

    fn lex_string(&mut self) -> Next {
        let r = self.next();
        if r == '\\' {
            self.add_current_string_part(1);
            return Next::Go(S::StringEscape);
        }
        if ends_number(r) || r == ']' {
            self.backup();
            if self.has_parts {
                self.emit_string();
            } else if self.is_bool() {
                self.emit(ItemType::Bool);
            } else if self.is_variable() {
                self.emit(ItemType::Variable);
            } else {
                self.emit_string();
            }
            return self.pop();
        }
        if r == '\'' {
            return self.close_quote(Self::emit_string);
        }
        Next::Go(S::Str)
    }

    fn lex_block(&mut self) -> Next {
        let r = self.next();
        if r == ')' {
            self.backup();
            self.backup();
            if self.next() != '\n' {
                self.next();
                return Next::Go(S::Block);
            }
            self.next();
            let r2 = self.next();
            if r2 == '\n' || r2 == EOF {
                self.backup();
                return self.close_quote(|l| l.emit(ItemType::String));
            }
            self.backup();
            return Next::Go(S::Block);
        }
        if r == EOF {
            return self.errorf("Unexpected EOF processing block.".into());
        }
        Next::Go(S::Block)
    }

    fn lex_string_escape(&mut self) -> Next {
        let r = self.next();
        match r {
            'x' => Next::Go(S::StringBinary),
            't' => self.add_string_part(b"\t"),
            'n' => self.add_string_part(b"\n"),
            'r' => self.add_string_part(b"\r"),
            '"' => self.add_string_part(b"\""),
            '\\' => self.add_string_part(b"\\"),
            _ => self.errorf(format!(
                "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                esc(r)
            )),
        }
    }

    fn lex_string_binary(&mut self) -> Next {
        let r = self.next();
        if is_nl(r) {
            return self
                .errorf("Expected two hexadecimal digits after '\\x', but hit end of line".into());
        }
        let r = self.next();
        if is_nl(r) {
            return self
                .errorf("Expected two hexadecimal digits after '\\x', but hit end of line".into());
        }
        let offset = self.pos.saturating_sub(2);
        let hex = self.slice(offset, self.pos).to_vec();
        let decoded = match hex.as_slice() {
            [h, l] => match (unhex(*h), unhex(*l)) {
                (Some(h), Some(l)) => Some(h << 4 | l),
                _ => None,
            },
            _ => None,
        };
        let Some(byte) = decoded else {
            return self.errorf(format!(
                "Expected two hexadecimal digits after '\\x', but got '{}'",
                String::from_utf8_lossy(&hex)
            ));
        };
        self.add_string_part(&[byte]);
        Next::Go(self.string_state)
    }

    /// `lexNumberStart`, `lexNegNumberStart`: a digit, then `digits`.
    fn lex_number_start(&mut self, digits: S) -> Next {
        let r = self.next();
        if is_digit(r) {
            return Next::Go(digits);
        }
        if r == '.' {
            return self.errorf("Floats must start with a digit, not '.'.".into());
        }
        self.errorf(format!("Expected a digit but got '{}'.", esc(r)))
    }

    fn lex_number(&mut self) -> Next {
        let r = self.next();
        if r == '-' {
            if self.pos as i64 - self.start as i64 != 5 {
                return self.errorf("All ISO8601 dates must be in full Zulu form.".into());
            }
            return Next::Go(S::DateAfterYear);
        }
        if is_digit(r) {
            return Next::Go(S::Number);
        }
        if r == '.' {
            return Next::Go(S::FloatStart);
        }
        if is_number_suffix(r) {
            return Next::Go(S::ConvenientNumber);
        }
        if !ends_number(r) {
            self.string_state = S::Str;
            return Next::Go(S::Str);
        }
        self.end_token(ItemType::Integer)
    }

    fn lex_date_after_year(&mut self) -> Next {
        const FORMAT: &[char] = &[
            '0', '0', '-', '0', '0', 'T', '0', '0', ':', '0', '0', ':', '0', '0', 'Z',
        ];
        for &f in FORMAT {
            let r = self.next();
            if f == '0' {
                if !is_digit(r) {
                    return self.errorf(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        esc(r)
                    ));
                }
            } else if f != r {
                return self.errorf(format!(
                    "Expected '{}' in ISO8601 datetime, but found '{}' instead.",
                    esc(f),
                    esc(r)
                ));
            }
        }
        self.emit(ItemType::Datetime);
        self.pop()
    }
}

/// Lexes the whole input. The list ends with an `Eof` or an `Error` item
/// (nothing is lexed past an error, like the reference).
pub fn lex(input: &[u8]) -> Vec<Item> {
    let mut lx = Lexer::new(input);
    let mut state = S::Top;
    // Every state either consumes input or makes progress towards a
    // consuming state; the step budget is a belt-and-braces guard.
    let mut budget: usize = input.len().saturating_mul(64).saturating_add(1024);
    loop {
        if budget == 0 {
            lx.errorf("Unexpected EOF.".into());
            break;
        }
        budget -= 1;
        match lx.step(state) {
            Next::Go(s) => state = s,
            Next::Skip(s) => {
                lx.ignore();
                state = s;
            }
            Next::Stop => break,
        }
    }
    lx.items
}
