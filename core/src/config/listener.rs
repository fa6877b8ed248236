//! What the listener blocks (`cluster`, `gateway`, `leafnodes`,
//! `websocket`, `mqtt`) share: the address keys, `tls`, the simple
//! authorization of client-facing listeners and the single-user
//! authorization of routes and gateways.

use super::auth::{parse_authorization, parse_simple_auth, AuthorizationOpts};
use super::cluster::{ClusterOpts, GatewayOpts};
use super::context::{nil_panic, set_listen, want_int, want_string, Cx, Record, P};
use super::leafnode::LeafNodeOpts;
use super::tls::{tls_config, TlsOpts};
use super::value::Value;
use super::websocket::{MqttOpts, WebsocketOpts};

/// The fields of a listener block that the shared keys set.
pub(crate) struct ListenerFields<'a> {
    host: &'a mut String,
    port: &'a mut i64,
    tls: &'a mut Option<TlsOpts>,
    username: &'a mut String,
    password: &'a mut String,
    auth_timeout: &'a mut f64,
    /// `authorization.token` and `no_auth_user` of the client-facing
    /// listeners (websocket, MQTT).
    client: Option<(&'a mut String, &'a mut String)>,
}

impl<'a> ListenerFields<'a> {
    /// Keeps the user, password and timeout of an `authorization` block;
    /// returns the client-only fields.
    fn keep_user(self, auth: &AuthorizationOpts) -> Option<(&'a mut String, &'a mut String)> {
        *self.username = auth.user.clone();
        *self.password = auth.pass.clone();
        *self.auth_timeout = auth.timeout;
        self.client
    }
}

/// A listener block.
pub(crate) trait Listener {
    /// Its shared fields.
    fn fields(&mut self) -> ListenerFields<'_>;
}

/// The listener blocks share field names, so one impl shape fits all.
macro_rules! impl_listener {
    ($t:ty, |$l:ident| $client:expr) => {
        impl Listener for $t {
            fn fields(&mut self) -> ListenerFields<'_> {
                let $l = self;
                ListenerFields {
                    host: &mut $l.host,
                    port: &mut $l.port,
                    tls: &mut $l.tls,
                    username: &mut $l.username,
                    password: &mut $l.password,
                    auth_timeout: &mut $l.auth_timeout,
                    client: $client,
                }
            }
        }
    };
}

impl_listener!(ClusterOpts, |l| None);
impl_listener!(GatewayOpts, |l| None);
impl_listener!(LeafNodeOpts, |l| None);
impl_listener!(WebsocketOpts, |l| Some((&mut l.token, &mut l.no_auth_user)));
impl_listener!(MqttOpts, |l| Some((&mut l.token, &mut l.no_auth_user)));

/// The keys every listener block handles alike: `listen`, `port`,
/// `host`/`net` and `tls` (`client_ctx`: see
/// [`super::tls::parse_tls`]), and for client-facing listeners
/// `authorization`/`authentication` (`parseSimpleAuth`) and
/// `no_auth_user`. Any other key is an unknown field.
pub(crate) fn listener_key(
    cx: &mut Cx,
    mk: &str,
    tk: &Value,
    l: &mut impl Listener,
    client_ctx: bool,
) -> P<()> {
    let f = l.fields();
    let client = f.client.is_some();
    match mk.to_lowercase().as_str() {
        "listen" => set_listen(cx, tk, f.host, f.port),
        "port" => *f.port = want_int(tk)?,
        "host" | "net" => *f.host = want_string(tk)?,
        "tls" => {
            if let Some(tc) = tls_config(cx, tk, client_ctx) {
                *f.tls = Some(tc);
            }
        }
        "authorization" | "authentication" if client => {
            let auth = parse_simple_auth(cx, tk).ok_or_else(nil_panic)?;
            if let Some((token, _)) = f.keep_user(&auth) {
                *token = auth.token;
            }
        }
        "no_auth_user" if client => {
            if let Some((_, no_auth_user)) = f.client {
                *no_auth_user = want_string(tk)?;
            }
        }
        _ => cx.unknown(tk, mk),
    }
    Ok(())
}

/// `authorization` of a cluster or a gateway (`kind`: `Cluster`,
/// `Gateway`): a single user, no token, no callout. The user is kept in
/// `l`; `None`: an error was recorded.
pub(crate) fn route_authorization(
    cx: &mut Cx,
    tk: &Value,
    kind: &str,
    l: &mut impl Listener,
) -> P<Option<AuthorizationOpts>> {
    let Some(auth) = parse_authorization(cx, tk)
        .ok_or_else(nil_panic)?
        .record(cx)
    else {
        return Ok(None);
    };
    let refused = if auth.users.is_some() {
        "does not allow multiple users"
    } else if !auth.token.is_empty() {
        "does not support tokens"
    } else if auth.callout.is_some() {
        "does not support callouts"
    } else {
        l.fields().keep_user(&auth);
        return Ok(Some(auth));
    };
    cx.err(&tk.pos, format!("{kind} authorization {refused}"));
    Ok(None)
}
