//! Engine tests: literal protocol bytes in, exact bytes out, with no IO.

mod allocations;
mod auth;
mod back_pressure;
mod churn;
mod client_protocol;
mod compression;
mod gateway;
mod harness;
mod lame_duck;
mod layer_peer;
mod leaf;
mod limits;
mod monitor;
mod monitor_gateways;
mod monitor_routes;
mod msg_trace;
mod operator;
mod robustness;
mod route_peer;
mod routes;
mod system;
mod timers;
mod tls;
mod websocket;
