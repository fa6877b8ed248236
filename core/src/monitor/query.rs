//! Query-string values decoded with the errors nats-server's monitor
//! returns (Go's `strconv` texts inside).

/// A parsed query string: the first value of each key, as Go's
/// `url.Values.Get` sees it.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%20y+z`.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split(['&', ';'])
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (unescape(k), unescape(v)),
                None => (unescape(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`, or `""`.
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A boolean; missing or empty is `false`.
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(false);
        }
        crate::cli::go_parse_bool(v).ok_or_else(|| {
            format!("Error decoding boolean for '{key}': strconv.ParseBool: parsing {v:?}: invalid syntax")
        })
    }

    /// An int (`strconv.Atoi`); missing or empty is `0`.
    pub fn int(&self, key: &str) -> Result<i64, String> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        parse_decimal(v).ok_or_else(|| {
            format!("Error decoding int for '{key}': strconv.Atoi: parsing {v:?}: invalid syntax")
        })
    }

    /// A uint64 (`strconv.ParseUint`); missing or empty is `0`.
    pub fn uint(&self, key: &str) -> Result<u64, String> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        v.parse::<u64>().map_err(|_| {
            format!("Error decoding uint64 for '{key}': strconv.ParseUint: parsing {v:?}: invalid syntax")
        })
    }
}

fn parse_decimal(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_errors_as_nats_server() {
        let q = Query::parse("sort=cid&subs=detail&limit=x&cid=y&auth=maybe&acc=%24G&s=a+b");
        assert_eq!(q.get("sort"), "cid");
        assert_eq!(q.get("acc"), "$G");
        assert_eq!(q.get("s"), "a b");
        assert_eq!(q.get("missing"), "");
        // Texts observed from nats-server 2.15.1's /connz.
        assert_eq!(
            q.int("limit").unwrap_err(),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            q.uint("cid").unwrap_err(),
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"y\": invalid syntax"
        );
        assert_eq!(
            q.bool("auth").unwrap_err(),
            "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(q.bool("missing"), Ok(false));
        assert_eq!(Query::parse("offset=-1").int("offset"), Ok(-1));
    }
}
