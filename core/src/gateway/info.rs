//! The INFO and CONNECT of the gateway protocol: the INFO a gateway port
//! sends (and a soliciting side sends after its CONNECT), the command
//! INFOs (gossip, interest-only switch), the CONNECT, and the fields
//! Canopy reads from each.

use crate::info::{push_json_string, push_url_list};
use serde::Deserialize;
use std::fmt::Write as _;

/// `gateway_cmd` 1: "here is a gateway you should connect to".
pub(crate) const CMD_GOSSIP: u8 = 1;
/// `gateway_cmd` 2: "I am about to send every subscription of this
/// account" (the start of the interest-only switch).
pub(crate) const CMD_ALL_SUBS_START: u8 = 2;
/// `gateway_cmd` 3: "that was every subscription of this account": from
/// now on send only what matches them.
pub(crate) const CMD_ALL_SUBS_COMPLETE: u8 = 3;

/// The INFO a gateway peer sends (the fields Canopy reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct GatewayInfo {
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    /// The sender's gateway name: absent on a port that is no gateway
    /// port.
    pub(crate) gateway: String,
    /// Every gateway URL of the sender's cluster.
    pub(crate) gateway_urls: Vec<String>,
    /// The sender's own gateway URL.
    pub(crate) gateway_url: String,
    /// A command (gossip, interest-only switch) rather than a handshake.
    pub(crate) gateway_cmd: u8,
    /// The command's argument: the account name, base64 in JSON.
    pub(crate) gateway_cmd_payload: Option<String>,
    /// The sender routes `_GR_.` replies (else only the old `$GR.`).
    pub(crate) gateway_nrp: bool,
    /// The sender switches every account to interest-only at once.
    pub(crate) gateway_iom: bool,
    pub(crate) headers: bool,
    pub(crate) auth_required: bool,
    pub(crate) tls_required: bool,
}

/// The CONNECT a soliciting gateway sends (the fields Canopy reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct GatewayConnect {
    /// The dialing side's gateway name: empty from a client or route.
    pub(crate) gateway: String,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    /// The dialing server's id.
    pub(crate) name: String,
}

/// Fields of this server's gateway INFO.
pub(crate) struct OwnGatewayInfo<'a> {
    pub(crate) server_id: &'a str,
    pub(crate) server_name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) auth_required: bool,
    /// Gateways use TLS (`tls_required` and `tls_verify`).
    pub(crate) tls: bool,
    pub(crate) max_payload: usize,
    pub(crate) gateway: &'a str,
    pub(crate) gateway_urls: &'a [String],
    pub(crate) gateway_url: &'a str,
}

impl OwnGatewayInfo<'_> {
    /// `INFO {...}\r\n` with nats-server's fields in its order.
    pub(crate) fn write(&self, out: &mut String) {
        out.push_str("INFO {\"server_id\":");
        push_json_string(out, self.server_id);
        out.push_str(",\"server_name\":");
        push_json_string(out, self.server_name);
        out.push_str(",\"version\":");
        push_json_string(out, self.version);
        out.push_str(",\"proto\":3,\"go\":\"rust\",\"host\":");
        push_json_string(out, self.host);
        let _ = write!(out, ",\"port\":{},\"headers\":true", self.port);
        if self.auth_required {
            out.push_str(",\"auth_required\":true");
        }
        if self.tls {
            out.push_str(",\"tls_required\":true,\"tls_verify\":true");
        }
        let _ = write!(out, ",\"max_payload\":{}", self.max_payload);
        out.push_str(",\"gateway\":");
        push_json_string(out, self.gateway);
        push_url_list(out, "gateway_urls", self.gateway_urls);
        out.push_str(",\"gateway_url\":");
        push_json_string(out, self.gateway_url);
        out.push_str(",\"gateway_nrp\":true,\"gateway_iom\":true}\r\n");
    }
}

/// A command INFO: `{"gateway":<ours>,"gateway_cmd":N,
/// "gateway_cmd_payload":<base64 account>}`.
pub(crate) fn write_command(out: &mut String, gateway: &str, cmd: u8, account: &str) {
    out.push_str("INFO {\"server_id\":\"\",\"version\":\"\",\"proto\":0,\"go\":\"\",");
    out.push_str("\"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0,\"gateway\":");
    push_json_string(out, gateway);
    let _ = write!(out, ",\"gateway_cmd\":{cmd},\"gateway_cmd_payload\":");
    push_json_string(out, &crate::auth::base64_std_encode(account.as_bytes()));
    out.push_str("}\r\n");
}

/// A gossip INFO telling a peer about gateway `name` at `urls`
/// (`server_id` is ours on a gateway link, `GW<ours>` on a route).
pub(crate) fn write_gossip(out: &mut String, server_id: &str, name: &str, urls: &[String]) {
    out.push_str("INFO {\"server_id\":");
    push_json_string(out, server_id);
    out.push_str(",\"version\":\"\",\"proto\":0,\"go\":\"\",\"host\":\"\",\"port\":0,");
    out.push_str("\"headers\":false,\"max_payload\":0,\"gateway\":");
    push_json_string(out, name);
    push_url_list(out, "gateway_urls", urls);
    let _ = write!(out, ",\"gateway_cmd\":{CMD_GOSSIP}}}\r\n");
}

/// The CONNECT an outbound gateway sends.
pub(crate) fn write_connect(
    out: &mut String,
    credentials: Option<(&str, &str)>,
    server_id: &str,
    gateway: &str,
    tls: bool,
) {
    out.push_str("CONNECT {\"echo\":false,\"verbose\":false,\"pedantic\":false");
    if let Some((user, pass)) = credentials {
        out.push_str(",\"user\":");
        push_json_string(out, user);
        out.push_str(",\"pass\":");
        push_json_string(out, pass);
    }
    let _ = write!(out, ",\"tls_required\":{tls},\"headers\":false,\"name\":");
    push_json_string(out, server_id);
    out.push_str(",\"cluster\":\"\",\"gateway\":");
    push_json_string(out, gateway);
    out.push_str("}\r\n");
}

#[cfg(test)]
mod tests {
    use crate::auth::{base64_decode, base64_std_encode};

    #[test]
    fn base64_of_account_names_is_gos() {
        assert_eq!(base64_std_encode(b"$G"), "JEc=");
        assert_eq!(base64_std_encode(b"$SYS"), "JFNZUw==");
        assert_eq!(base64_std_encode(b"APP"), "QVBQ");
        for name in ["$G", "$SYS", "APP", "", "a"] {
            assert_eq!(
                base64_decode(&base64_std_encode(name.as_bytes())).as_deref(),
                Some(name.as_bytes())
            );
        }
        assert_eq!(base64_decode("J*c="), None);
    }
}
