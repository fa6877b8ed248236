//! Subject syntax and matching, as nats-server checks them.

/// Splits a subject into its dot-separated tokens.
pub fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b'.')
}

fn has_whitespace(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether `s` is a valid subscription subject: non-empty tokens, no
/// whitespace, `>` only as the whole last token.
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() || has_whitespace(s) {
        return false;
    }
    let mut seen_full_wildcard = false;
    for t in tokens(s) {
        if t.is_empty() || seen_full_wildcard {
            return false;
        }
        if t == b">" {
            seen_full_wildcard = true;
        }
    }
    true
}

/// Whether `s` is a valid subject with no wildcard tokens (pedantic PUB).
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    is_valid_subject(s) && tokens(s).all(|t| t != b"*" && t != b">")
}

/// Whether `q` is a valid queue group name (no whitespace, non-empty).
pub fn is_valid_queue_name(q: &[u8]) -> bool {
    !q.is_empty() && !has_whitespace(q)
}

/// Whether the subscription `pattern` matches the literal `subject`.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut p = tokens(pattern);
    let mut s = tokens(subject);
    loop {
        match (p.next(), s.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(pt), Some(st)) => {
                if pt != b"*" && pt != st {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_as_nats_server() {
        for ok in ["foo", "*", ">", "foo.*bar", "a.*.c", "a.>", "foo.*"] {
            assert!(is_valid_subject(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "foo..bar", "foo.>.bar", ">.foo", "foo.", ".foo", "a b"] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad}");
        }
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(is_valid_literal_subject(b"foo.*bar"));
    }

    #[test]
    fn matching() {
        assert!(matches(b"a.*", b"a.b"));
        assert!(matches(b"a.>", b"a.b.c"));
        assert!(!matches(b"a.>", b"a"));
        assert!(matches(b">", b"a"));
        assert!(matches(b"*.b", b"a.b"));
        assert!(!matches(b"a.*", b"a.b.c"));
        assert!(matches(b"foo.*", b"foo.*"));
        assert!(!matches(b"foo.bar", b"foo.*"));
    }
}
