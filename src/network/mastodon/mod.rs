//! Mastodon and the servers that speak its API (Pleroma/Akkoma, GoToSocial,
//! Friendica, Firefish, snac2): the [`Social`](super::Social)
//! implementation for an account ([`MastodonClient`]), the anonymous
//! readers of other instances ([`WatchedServer`]), streaming over
//! WebSocket, nodeinfo, and the OAuth steps of `hashchat login`.
//!
//! Everything here speaks Mastodon's REST and streaming API with our own
//! HTTP client and decodes each answer once, leniently, into hashchat's
//! types. megalodon is used only by [`oauth`] (app registration and the
//! code exchange, in each server family's flavour). Nothing here knows
//! about chats or runs; network-neutral pieces (the trait, budget,
//! backoff, errors, token, TLS trust) live in the parent module.

mod client;
mod decode;
mod instance;
pub mod nodeinfo;
pub mod oauth;
mod rest;
mod stream;
pub mod watched;

pub use client::MastodonClient;
pub use decode::Notification;
pub use instance::DEFAULT_MAX_CHARACTERS;
pub use stream::{
    redact, stream_url, user_stream_url, HashtagStream, StreamEnd, DEFAULT_IDLE_LIMIT,
};
pub use watched::WatchedServer;
