//! `verify_and_map`: which configured user a client certificate names, by
//! nats-server's rules (`checkClientTLSCertSubject` in its `server/auth.go`,
//! the callback `processClientOrLeafAuthentication` passes it, and its
//! `internal/ldap` DN parser).
//!
//! nats-server tries, in order, and takes the first user found:
//!
//! 1. each rfc822Name (email) of the subject alternative names, then each
//!    dNSName, then each uniformResourceIdentifier, as a literal user name;
//! 2. for client connections only: the subject as a distinguished name,
//!    compared with every user name that parses as an RFC 4514 DN, first
//!    RDN for RDN in order ([`DnMatch::Exact`]), then, if no user matched
//!    that way, with the RDNs in any order ([`DnMatch::Reordered`]);
//! 3. the subject in Go's `pkix.Name.ToRDNSequence().String()` form with
//!    `,DC=..` appended for every domainComponent, when there are any;
//! 4. that subject string without domain components.
//!
//! Go's form of step 3 and 4 is not the RFC 2253 string of the certificate:
//! it keeps only C, ST, L, STREET, POSTALCODE, O, OU, CN and SERIALNUMBER,
//! puts all values of one type in one multi-valued RDN (`OU=a+OU=b`),
//! keeps only the last CN and SERIALNUMBER, and prints the groups in
//! reverse of that fixed order (`CN=..,OU=..,O=..,L=..,ST=..,C=..`),
//! whatever the certificate's order. Step 2 uses the certificate's own
//! order, but fails when the subject has an attribute other than those
//! nine and DC (an emailAddress, a UID): then only the strings match.
//!
//! Routes, gateways and leafnodes skip step 2. Where nats-server picks
//! among several users matching in step 2 by Go map order (random), this
//! module takes the first in the caller's order. A certificate Go could not
//! parse (a subject value that is not one of the six string types Go
//! reads) maps to nothing, as Go would have refused it in the handshake.

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Class;
use x509_parser::extensions::GeneralName;

/// How a user name written as a distinguished name matches a certificate's
/// subject (step 2 of the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DnMatch {
    /// Not the same name.
    No,
    /// The same RDNs in another order.
    Reordered,
    /// The same RDNs in the same order (attribute types compared without
    /// case, values exactly, the attributes within one RDN in any order).
    Exact,
}

/// The names nats-server reads from a client certificate to find its user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertNames {
    /// rfc822Name subject alternative names, in certificate order.
    pub emails: Vec<String>,
    /// dNSName subject alternative names, in certificate order.
    pub dns_names: Vec<String>,
    /// uniformResourceIdentifier subject alternative names, in certificate
    /// order, scheme lower-cased as Go's `url.URL.String()` prints it.
    pub uris: Vec<String>,
    /// The subject in Go's `ToRDNSequence().String()` form (may be empty).
    pub subject: String,
    /// `subject` followed by `,DC=..` for every domainComponent, when the
    /// subject has any.
    pub subject_with_dcs: Option<String>,
    /// The subject as a DN in the certificate's order, last RDN first; `None`
    /// when it has an attribute nats-server's DN matching does not know.
    dn: Option<Dn>,
}

/// The literal user names of a client certificate, in the order
/// nats-server tries them: emails, DNS names, URIs, the subject with domain
/// components, the subject. Client connections also try
/// [`subject_matches`] between the URIs and the subject strings (see
/// [`map_user`], which does both). Empty for anything that is not a
/// certificate Go would accept.
pub fn map_candidates(cert_der: &[u8]) -> Vec<String> {
    CertNames::parse(cert_der)
        .map(|names| names.candidates())
        .unwrap_or_default()
}

/// How `user_name`, read as an RFC 4514 DN the way nats-server reads it,
/// matches the certificate's subject (step 2 of the module docs).
pub fn subject_matches(cert_der: &[u8], user_name: &str) -> DnMatch {
    CertNames::parse(cert_der).map_or(DnMatch::No, |names| names.dn_match(user_name))
}

/// The index in `user_names` of the user a client certificate maps to, by
/// all of nats-server's steps; `match_dn` is true for client connections
/// (and false for routes, gateways and leafnodes, which only compare
/// strings). Pass only the users allowed for the connection's type, in
/// configuration order.
pub fn map_user<S: AsRef<str>>(cert_der: &[u8], user_names: &[S], match_dn: bool) -> Option<usize> {
    CertNames::parse(cert_der)?.map_user(user_names, match_dn)
}

impl CertNames {
    /// The names of a DER certificate; `None` when Go would not accept it.
    pub fn parse(cert_der: &[u8]) -> Option<CertNames> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
        let mut names = CertNames::default();
        sans(&cert, &mut names)?;
        let subject = subject_rdns(&cert)?;
        names.subject = go_subject_string(&subject);
        let dcs: Vec<String> = subject
            .iter()
            .flatten()
            .filter(|atv| atv.oid == OID_DC)
            .map(|atv| format!("DC={}", lossy(&atv.value)))
            .collect();
        if !dcs.is_empty() {
            names.subject_with_dcs = Some(format!("{},{}", names.subject, dcs.join(",")));
        }
        names.dn = cert_dn(&subject);
        Some(names)
    }

    /// The literal user names, in order (see [`map_candidates`]).
    pub fn candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(self.alt_names().cloned());
        out.extend(self.subject_names().cloned());
        out
    }

    /// How `user_name` matches the subject as a DN (see [`subject_matches`]).
    pub fn dn_match(&self, user_name: &str) -> DnMatch {
        let (Some(cert), Some(user)) = (&self.dn, parse_dn(user_name.as_bytes())) else {
            return DnMatch::No;
        };
        if dn_equal(&user, cert) {
            DnMatch::Exact
        } else if rdns_match(&user, cert) {
            DnMatch::Reordered
        } else {
            DnMatch::No
        }
    }

    /// The index of the user these names map to (see [`map_user`]).
    pub fn map_user<S: AsRef<str>>(&self, user_names: &[S], match_dn: bool) -> Option<usize> {
        let find = |name: &String| {
            user_names
                .iter()
                .position(|user| !name.is_empty() && user.as_ref() == name)
        };
        if let Some(found) = self.alt_names().find_map(find) {
            return Some(found);
        }
        if match_dn && self.dn.is_some() {
            let matches: Vec<DnMatch> = user_names
                .iter()
                .map(|user| self.dn_match(user.as_ref()))
                .collect();
            for wanted in [DnMatch::Exact, DnMatch::Reordered] {
                if let Some(found) = matches.iter().position(|m| *m == wanted) {
                    return Some(found);
                }
            }
        }
        self.subject_names().find_map(find)
    }

    fn alt_names(&self) -> impl Iterator<Item = &String> {
        self.emails.iter().chain(&self.dns_names).chain(&self.uris)
    }

    fn subject_names(&self) -> impl Iterator<Item = &String> {
        self.subject_with_dcs
            .iter()
            .chain(std::iter::once(&self.subject))
            .filter(|s| !s.is_empty())
    }
}

/// The subject alternative names nats-server reads; `None` if the
/// extension cannot be read.
fn sans(cert: &X509Certificate<'_>, names: &mut CertNames) -> Option<()> {
    let Some(ext) = cert.subject_alternative_name().ok()? else {
        return Some(());
    };
    for name in &ext.value.general_names {
        match name {
            GeneralName::RFC822Name(email) => names.emails.push((*email).to_string()),
            GeneralName::DNSName(dns) => names.dns_names.push((*dns).to_string()),
            GeneralName::URI(uri) => names.uris.push(go_uri(uri)),
            GeneralName::OtherName(..)
            | GeneralName::X400Address(_)
            | GeneralName::DirectoryName(_)
            | GeneralName::EDIPartyName(_)
            | GeneralName::IPAddress(_)
            | GeneralName::RegisteredID(_) => {}
        }
    }
    Some(())
}

/// A URI as Go's `url.Parse(..).String()` prints it, as far as canopy
/// follows it: the scheme lower-cased.
fn go_uri(uri: &str) -> String {
    let Some(colon) = uri.find(':') else {
        return uri.to_string();
    };
    let scheme = &uri[..colon];
    let valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    if valid {
        format!("{}{}", scheme.to_ascii_lowercase(), &uri[colon..])
    } else {
        uri.to_string()
    }
}

/// The OIDs of the attributes nats-server names.
const OID_CN: &str = "2.5.4.3";
const OID_SERIAL: &str = "2.5.4.5";
const OID_C: &str = "2.5.4.6";
const OID_L: &str = "2.5.4.7";
const OID_ST: &str = "2.5.4.8";
const OID_STREET: &str = "2.5.4.9";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";
const OID_POSTAL: &str = "2.5.4.17";
const OID_DC: &str = "0.9.2342.19200300.100.1.25";

/// Go's short names of attribute types: the nine `pkix` knows, and DC,
/// which nats-server's DN parser adds.
const TYPE_NAMES: [(&str, &str); 10] = [
    (OID_CN, "CN"),
    (OID_SERIAL, "SERIALNUMBER"),
    (OID_C, "C"),
    (OID_L, "L"),
    (OID_ST, "ST"),
    (OID_STREET, "STREET"),
    (OID_O, "O"),
    (OID_OU, "OU"),
    (OID_POSTAL, "POSTALCODE"),
    (OID_DC, "DC"),
];

/// One attribute of the certificate's subject: its OID in dotted form and
/// its value as the bytes of Go's string.
struct Atv {
    oid: String,
    value: Vec<u8>,
}

/// The subject's RDNs in certificate order; `None` when a value is not a
/// string type Go's certificate parser reads.
fn subject_rdns(cert: &X509Certificate<'_>) -> Option<Vec<Vec<Atv>>> {
    cert.subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let any = atv.attr_value();
                    let universal =
                        any.header.class() == Class::Universal && !any.header.is_constructed();
                    Some(Atv {
                        oid: atv.attr_type().to_id_string(),
                        value: go_string(any.header.tag().0, any.data).filter(|_| universal)?,
                    })
                })
                .collect()
        })
        .collect()
}

/// The bytes of the Go string a DER string value decodes to, for the six
/// types Go reads (`None` for any other type or a malformed value).
fn go_string(tag: u32, data: &[u8]) -> Option<Vec<u8>> {
    match tag {
        // UTF8String
        12 => std::str::from_utf8(data).ok().map(|_| data.to_vec()),
        // NumericString
        18 => data
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b' ')
            .then(|| data.to_vec()),
        // PrintableString, with the '*' and '&' Go tolerates
        19 => data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*&".contains(b))
            .then(|| data.to_vec()),
        // T61String: Go keeps the bytes as they are
        20 => Some(data.to_vec()),
        // IA5String
        22 => data.is_ascii().then(|| data.to_vec()),
        // BMPString: UTF-16BE, an ending NUL dropped
        30 => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let data = data.strip_suffix(&[0, 0]).unwrap_or(data);
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units).into_bytes())
        }
        _ => None,
    }
}

/// Go's bytes as text (only T61 values can hold invalid UTF-8).
fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Go's `cert.Subject.ToRDNSequence().String()`.
fn go_subject_string(rdns: &[Vec<Atv>]) -> String {
    let all = || rdns.iter().flatten();
    let values = |oid: &str| -> Vec<&[u8]> {
        all()
            .filter(|atv| atv.oid == oid)
            .map(|atv| atv.value.as_slice())
            .collect()
    };
    // The last one wins, and an empty one is left out.
    let last = |oid: &str| -> Vec<&[u8]> {
        values(oid)
            .last()
            .filter(|v| !v.is_empty())
            .map(|v| vec![*v])
            .unwrap_or_default()
    };
    let groups: [(&str, Vec<&[u8]>); 9] = [
        ("C", values(OID_C)),
        ("ST", values(OID_ST)),
        ("L", values(OID_L)),
        ("STREET", values(OID_STREET)),
        ("POSTALCODE", values(OID_POSTAL)),
        ("O", values(OID_O)),
        ("OU", values(OID_OU)),
        ("CN", last(OID_CN)),
        ("SERIALNUMBER", last(OID_SERIAL)),
    ];
    groups
        .iter()
        .rev()
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, values)| {
            values
                .iter()
                .map(|value| format!("{name}={}", go_escape(&lossy(value))))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A value escaped as Go's `RDNSequence.String()` escapes it.
fn go_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.len().saturating_sub(1);
    for (at, c) in value.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => at == 0 || at == last,
            '#' => at == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One attribute of a DN as nats-server's DN parser holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DnAttr {
    kind: Vec<u8>,
    value: Vec<u8>,
}

/// A DN: RDNs, each a set of attributes, in printed order (last RDN of the
/// certificate first).
type Dn = Vec<Vec<DnAttr>>;

/// The certificate's subject as a DN: RDNs reversed, the attributes within
/// each reversed, empty RDNs dropped; `None` when an attribute type is not
/// one of [`TYPE_NAMES`].
fn cert_dn(rdns: &[Vec<Atv>]) -> Option<Dn> {
    rdns.iter()
        .rev()
        .filter(|rdn| !rdn.is_empty())
        .map(|rdn| {
            rdn.iter()
                .rev()
                .map(|atv| {
                    let (_, name) = TYPE_NAMES.iter().find(|(oid, _)| *oid == atv.oid)?;
                    Some(DnAttr {
                        kind: name.as_bytes().to_vec(),
                        value: atv.value.clone(),
                    })
                })
                .collect()
        })
        .collect()
}

/// A user name read as a DN the way nats-server's `ldap.ParseDN` reads it
/// (quirks included: unescaped spaces around types and values trimmed,
/// `\XX` hex escapes, `#` BER values refused, a trailing attribute without
/// a value dropped); `None` where it gives an error.
fn parse_dn(text: &[u8]) -> Option<Dn> {
    let mut dn: Dn = Vec::new();
    let mut rdn: Vec<DnAttr> = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut kind: Vec<u8> = Vec::new();
    let mut trailing_spaces = 0usize;
    let mut escaping = false;
    let take = |buffer: &mut Vec<u8>, trailing: &mut usize| -> Vec<u8> {
        let keep = buffer.len().saturating_sub(*trailing);
        buffer.truncate(keep);
        *trailing = 0;
        std::mem::take(buffer)
    };
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if escaping {
            trailing_spaces = 0;
            escaping = false;
            if b" \"#+,;<=>\\".contains(&c) {
                buffer.push(c);
            } else {
                // Not a special character: two hex digits, one byte.
                let high = hex_digit(*text.get(i)?)?;
                let low = hex_digit(*text.get(i + 1)?)?;
                buffer.push(high << 4 | low);
                i += 1;
            }
        } else if c == b'\\' {
            trailing_spaces = 0;
            escaping = true;
        } else if c == b'=' {
            kind = take(&mut buffer, &mut trailing_spaces);
            if text.get(i + 1) == Some(&b'#') {
                return None;
            }
        } else if c == b',' || c == b'+' {
            if kind.is_empty() {
                return None;
            }
            let value = take(&mut buffer, &mut trailing_spaces);
            rdn.push(DnAttr {
                kind: std::mem::take(&mut kind),
                value,
            });
            if c == b',' {
                dn.push(std::mem::take(&mut rdn));
            }
        } else if c == b' ' && buffer.is_empty() {
            // An unescaped leading space.
        } else {
            if c == b' ' {
                trailing_spaces += 1;
            } else {
                trailing_spaces = 0;
            }
            buffer.push(c);
        }
        i += 1;
    }
    if !buffer.is_empty() {
        if kind.is_empty() {
            return None;
        }
        let value = take(&mut buffer, &mut trailing_spaces);
        rdn.push(DnAttr { kind, value });
        dn.push(rdn);
    }
    Some(dn)
}

/// The value of one hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Attribute types compared as Go's `strings.EqualFold` compares them with
/// an ASCII type name: ASCII case ignored, and the two non-ASCII letters
/// that fold to ASCII ones (U+017F to s, U+212A to k) taken as those.
fn kinds_equal(a: &[u8], b: &[u8]) -> bool {
    fn fold(kind: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(kind)
            .replace('\u{17f}', "s")
            .replace('\u{212a}', "k")
            .to_ascii_lowercase()
            .into_bytes()
    }
    a.eq_ignore_ascii_case(b) || fold(a) == fold(b)
}

fn attr_equal(a: &DnAttr, b: &DnAttr) -> bool {
    kinds_equal(&a.kind, &b.kind) && a.value == b.value
}

/// RDNs equal: as many attributes, each of either found in the other.
fn rdn_equal(a: &[DnAttr], b: &[DnAttr]) -> bool {
    let covers = |x: &[DnAttr], y: &[DnAttr]| y.iter().all(|q| x.iter().any(|p| attr_equal(p, q)));
    a.len() == b.len() && covers(a, b) && covers(b, a)
}

/// DNs equal RDN for RDN in order.
fn dn_equal(a: &Dn, b: &Dn) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rdn_equal(x, y))
}

/// DNs with the same RDNs in any order: each RDN of `a` takes the first
/// unused equal RDN of `b`.
fn rdns_match(a: &Dn, b: &Dn) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .enumerate()
            .position(|(j, y)| !used[j] && rdn_equal(x, y));
        if let Some(j) = found {
            used[j] = true;
        }
        found.is_some()
    })
}
