//! Publish and subscribe permissions: the one decision function every
//! ingress kind uses (clients now; routes, gateways and leaf nodes later).
//!
//! The rules are nats-server 2.15.1's:
//! - publish: with an allow list the subject must match an allow entry;
//!   a matching deny entry refuses even then;
//! - subscribe: the subscription subject is matched against the entries
//!   as if it were literal (so `SUB foo.>` passes `allow: foo.*`, the
//!   `>` token matching the `*`);
//! - queue entries (`"foo v1"`) apply to queue subscriptions only: with a
//!   queue, if any queue entry matches the subject, the queue name must
//!   match one of them (literally, or by wildcard); without a queue only
//!   plain entries count. Deny entries work the same way the other round.

use crate::subject;

/// One allow or deny entry: a subject pattern, and a queue pattern for
/// queue entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Subject pattern (may contain `*` and `>`).
    pub subject: String,
    /// Queue group pattern, for `"subject queue"` entries.
    pub queue: Option<String>,
}

impl Entry {
    /// Parses an entry as the config writes it: `foo.*` or `foo.* v1`.
    pub fn parse(text: &str) -> Entry {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or_default().to_string();
        let queue = parts.next().map(str::to_string);
        Entry { subject, queue }
    }
}

/// Allow and deny lists for one direction. `allow: None` allows all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Entries that allow; `None` means everything is allowed.
    pub allow: Option<Vec<Entry>>,
    /// Entries that deny, overriding allow.
    pub deny: Vec<Entry>,
}

/// The permissions of one user (or of a route, gateway or leaf link).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Publish rule; `None`: no restriction.
    pub publish: Option<Rule>,
    /// Subscribe rule; `None`: no restriction.
    pub subscribe: Option<Rule>,
    /// `allow_responses`: replies allowed per request received, and for
    /// how long.
    pub responses: Option<Responses>,
}

/// `allow_responses`: a client may publish to the reply subject of each
/// request it received, `max` times within `expires`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Responses {
    /// Replies per request (nats-server's default: 1).
    pub max: u64,
    /// How long the permission lasts (default: 2 minutes).
    pub expires: std::time::Duration,
}

/// The two directions a permission decides.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Publishing to a subject.
    Publish,
    /// Subscribing to a subject, optionally in a queue group.
    Subscribe,
}

impl Rule {
    /// Whether `subject` passes this rule's plain entries: allowed (or no
    /// allow list) and not denied.
    pub fn allows(&self, subject: &[u8]) -> bool {
        if let Some(allow) = &self.allow {
            if !allow.iter().any(|e| entry_matches(e, subject)) {
                return false;
            }
        }
        !self.deny.iter().any(|e| entry_matches(e, subject))
    }
}

impl Permissions {
    /// Whether `subject` may be published (reply permissions aside).
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|rule| rule.allows(subject))
    }

    /// Whether `subject` may be subscribed, in `queue` if given.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rule) = &self.subscribe else {
            return true;
        };
        let queue = queue.filter(|q| !q.is_empty());
        let mut allowed = true;
        if let Some(allow) = &rule.allow {
            let (plain, queued) = split_matches(allow, subject);
            allowed = plain;
            if let Some(q) = queue {
                if !queued.is_empty() {
                    allowed = queue_matches(q, &queued);
                }
            }
        }
        if allowed && !rule.deny.is_empty() {
            let (plain, queued) = split_matches(&rule.deny, subject);
            allowed = !plain;
            if allowed {
                if let Some(q) = queue {
                    if !queued.is_empty() {
                        allowed = !queue_matches(q, &queued);
                    }
                }
            }
        }
        allowed
    }

    /// Whether a message on `subject` must not be delivered to a broad
    /// (wildcard or queue) subscription: a plain subscribe-deny entry
    /// matches it.
    pub fn delivery_denied(&self, subject: &[u8]) -> bool {
        self.subscribe
            .as_ref()
            .is_some_and(|r| r.deny.iter().any(|e| entry_matches(e, subject)))
    }

    /// The decision for either direction.
    pub fn allows(&self, direction: Direction, subject: &[u8], queue: Option<&[u8]>) -> bool {
        match direction {
            Direction::Publish => self.can_publish(subject),
            Direction::Subscribe => self.can_subscribe(subject, queue),
        }
    }
}

/// Whether a plain entry matches `subject` (taken literally).
fn entry_matches(e: &Entry, subject: &[u8]) -> bool {
    e.queue.is_none() && subject::matches(e.subject.as_bytes(), subject)
}

/// Whether any plain entry matches, and the queue entries that match.
fn split_matches<'a>(entries: &'a [Entry], subject: &[u8]) -> (bool, Vec<&'a str>) {
    let mut plain = false;
    let mut queued = Vec::new();
    for e in entries {
        if !subject::matches(e.subject.as_bytes(), subject) {
            continue;
        }
        match &e.queue {
            None => plain = true,
            Some(q) => queued.push(q.as_str()),
        }
    }
    (plain, queued)
}

/// nats-server's `queueMatches`: the queue equals an entry's queue, or an
/// entry's queue has wildcards and matches it as a subject.
fn queue_matches(queue: &[u8], entries: &[&str]) -> bool {
    entries.iter().any(|q| {
        q.as_bytes() == queue
            || (q.split('.').any(|t| t == "*" || t == ">") && subject::matches(q.as_bytes(), queue))
    })
}

/// The `-ERR` text for a refused publish.
pub fn publish_violation(subject: &[u8]) -> String {
    format!("Permissions Violation for Publish to {}", go_quote(subject))
}

/// The `-ERR` text for a refused subscription.
pub fn subscribe_violation(subject: &[u8], queue: Option<&[u8]>) -> String {
    match queue.filter(|q| !q.is_empty()) {
        Some(q) => format!(
            "Permissions Violation for Subscription to {} using queue {}",
            go_quote(subject),
            go_quote(q)
        ),
        None => format!(
            "Permissions Violation for Subscription to {}",
            go_quote(subject)
        ),
    }
}

/// The `-ERR` text for a publish whose reply uses the reserved `_R_.`
/// prefix of service-import replies.
pub fn reserved_reply_violation(reply: &[u8]) -> String {
    format!(
        "Permissions Violation for Publish with Reply of {}",
        go_quote(reply)
    )
}

/// The `-ERR` text for a subscription over `max_sub_tokens`.
pub fn too_many_tokens(subject: &[u8]) -> String {
    format!(
        "Permissions Violation for Subscription to {}, too many tokens",
        go_quote(subject)
    )
}

/// Go's `%q` of a subject.
fn go_quote(s: &[u8]) -> String {
    crate::config::gofmt::quote(&String::from_utf8_lossy(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(allow: Option<&[&str]>, deny: &[&str]) -> Rule {
        Rule {
            allow: allow.map(|a| a.iter().map(|e| Entry::parse(e)).collect()),
            deny: deny.iter().map(|e| Entry::parse(e)).collect(),
        }
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = Permissions {
            publish: Some(rule(Some(&["foo.*", "bar.>"]), &["foo.secret"])),
            subscribe: None,
            responses: None,
        };
        assert!(p.can_publish(b"foo.x"));
        assert!(p.can_publish(b"bar.a.b"));
        assert!(!p.can_publish(b"foo.secret"), "deny overrides allow");
        assert!(!p.can_publish(b"baz"));
        assert!(!p.can_publish(b"foo.x.y"));
        let deny_only = Permissions {
            publish: Some(rule(None, &["nope.>"])),
            subscribe: None,
            responses: None,
        };
        assert!(deny_only.can_publish(b"anything"));
        assert!(!deny_only.can_publish(b"nope.x"));
    }

    #[test]
    fn subscribe_subjects_are_taken_literally() {
        let p = Permissions {
            publish: None,
            subscribe: Some(rule(Some(&["foo.*"]), &[])),
            responses: None,
        };
        // Observed from nats-server 2.15.1: SUB foo.> passes allow foo.*.
        assert!(p.can_subscribe(b"foo.>", None));
        assert!(p.can_subscribe(b"foo.*", None));
        assert!(!p.can_subscribe(b"foo.a.b", None));
        assert!(!p.can_subscribe(b">", None));
    }

    #[test]
    fn queue_permissions() {
        // Observed from nats-server 2.15.1: allow "foo v1" lets only the
        // queue subscription foo/v1 in.
        let p = Permissions {
            publish: None,
            subscribe: Some(rule(Some(&["foo v1"]), &[])),
            responses: None,
        };
        assert!(p.can_subscribe(b"foo", Some(b"v1")));
        assert!(!p.can_subscribe(b"foo", None));
        assert!(!p.can_subscribe(b"foo", Some(b"v2")));
        let wild = Permissions {
            publish: None,
            subscribe: Some(rule(Some(&["foo", "foo v1.*"]), &["foo v1.bad"])),
            responses: None,
        };
        assert!(wild.can_subscribe(b"foo", None));
        assert!(wild.can_subscribe(b"foo", Some(b"v1.x")));
        assert!(
            !wild.can_subscribe(b"foo", Some(b"v2")),
            "queue entries decide for queues"
        );
        assert!(!wild.can_subscribe(b"foo", Some(b"v1.bad")));
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            publish_violation(b"foo"),
            "Permissions Violation for Publish to \"foo\""
        );
        assert_eq!(
            subscribe_violation(b"foo", Some(b"v2")),
            "Permissions Violation for Subscription to \"foo\" using queue \"v2\""
        );
        assert_eq!(
            subscribe_violation(b"foo", None),
            "Permissions Violation for Subscription to \"foo\""
        );
    }

    /// A model written from the rules in the module docs, token by token,
    /// without the shared helpers.
    fn model_matches(pattern: &str, subject: &str) -> bool {
        let p: Vec<&str> = pattern.split('.').collect();
        let s: Vec<&str> = subject.split('.').collect();
        for (i, pt) in p.iter().enumerate() {
            if *pt == ">" {
                return s.len() > i;
            }
            match s.get(i) {
                None => return false,
                Some(st) if *pt != "*" && pt != st => return false,
                Some(_) => {}
            }
        }
        p.len() == s.len()
    }

    fn model(
        allow: &Option<Vec<(String, Option<String>)>>,
        deny: &[(String, Option<String>)],
        dir: Direction,
        subject: &str,
        queue: Option<&str>,
    ) -> bool {
        let qmatch = |q: &str, pat: &str| {
            q == pat || (pat.split('.').any(|t| t == "*" || t == ">") && model_matches(pat, q))
        };
        let decide = |entries: &[(String, Option<String>)]| -> (bool, Option<bool>) {
            // (plain matched, Some(queue matched) if any queue entry matched)
            let mut plain = false;
            let mut any_q = false;
            let mut q_ok = false;
            for (s, q) in entries {
                if !model_matches(s, subject) {
                    continue;
                }
                match q {
                    None => plain = true,
                    Some(pat) => {
                        any_q = true;
                        if let Some(qn) = queue {
                            q_ok |= qmatch(qn, pat);
                        }
                    }
                }
            }
            (plain, any_q.then_some(q_ok))
        };
        match dir {
            Direction::Publish => {
                let plain_only = |e: &[(String, Option<String>)]| {
                    e.iter()
                        .any(|(s, q)| q.is_none() && model_matches(s, subject))
                };
                let allowed = allow.as_ref().is_none_or(|a| plain_only(a));
                allowed && !plain_only(deny)
            }
            Direction::Subscribe => {
                let mut ok = match allow {
                    None => true,
                    Some(a) => {
                        let (plain, q) = decide(a);
                        match (queue, q) {
                            (Some(_), Some(qm)) => qm,
                            _ => plain,
                        }
                    }
                };
                if ok {
                    let (plain, q) = decide(deny);
                    ok = !plain;
                    if ok {
                        if let (Some(_), Some(qm)) = (queue, q) {
                            ok = !qm;
                        }
                    }
                }
                ok
            }
        }
    }

    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["a", "b", "c", "*", ">"])
    }

    fn pattern() -> impl Strategy<Value = String> {
        prop::collection::vec(token(), 1..4).prop_map(|t| {
            // `>` only as the last token, as validation guarantees.
            let mut out: Vec<&str> = Vec::new();
            for tok in t {
                out.push(tok);
                if tok == ">" {
                    break;
                }
            }
            out.join(".")
        })
    }

    fn entry() -> impl Strategy<Value = (String, Option<String>)> {
        (
            pattern(),
            prop::option::weighted(
                0.3,
                prop::sample::select(vec!["q", "r", "q.*", "q.x", ">"]).prop_map(str::to_string),
            ),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]
        #[test]
        fn decision_agrees_with_the_model(
            allow in prop::option::of(prop::collection::vec(entry(), 0..4)),
            deny in prop::collection::vec(entry(), 0..3),
            publish in any::<bool>(),
            subject in pattern(),
            queue in prop::option::of(prop::sample::select(vec!["q", "r", "q.x", "q.y"])),
        ) {
            let to_entries = |v: &[(String, Option<String>)]| -> Vec<Entry> {
                v.iter().map(|(s, q)| Entry { subject: s.clone(), queue: q.clone() }).collect()
            };
            let r = Rule { allow: allow.as_deref().map(to_entries), deny: to_entries(&deny) };
            let (dir, perms) = if publish {
                (Direction::Publish, Permissions { publish: Some(r), subscribe: None, responses: None })
            } else {
                (Direction::Subscribe, Permissions { publish: None, subscribe: Some(r), responses: None })
            };
            // Published subjects are literal.
            let subject = if publish { subject.replace(['*', '>'], "a") } else { subject };
            let queue = if publish { None } else { queue };
            prop_assert_eq!(
                perms.allows(dir, subject.as_bytes(), queue.map(str::as_bytes)),
                model(&allow, &deny, dir, &subject, queue)
            );
        }
    }
}
