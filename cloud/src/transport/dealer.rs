//! The bounded DEALER connect, kept at its old path for the cloud's
//! callers; it is written once, in `shoplist-net`
//! ([`shoplist_net::connect_dealer`]), and shared with the cli.

pub use shoplist_net::connect_dealer as connect;
