//! Bluesky (AT Protocol): the bot account's session, posts with facets
//! written exactly once to its repository, public thread reads from the
//! appview, and answers from Jetstream.
//!
//! Owns everything Bluesky-specific on the wire and nothing about chats or
//! runs: callers hand in texts, record keys and hashtags. The session's
//! tokens only ever go to the account's own PDS (`client.rs`).
//! `platform.rs` puts it all behind the daemon's `Social` trait, with
//! posts mapped to statuses in `status.rs`.

mod client;
pub mod facets;
mod jetstream;
mod platform;
mod record;
mod repo;
mod session;
mod status;
mod thread;

pub use client::{Account, BlueskyClient, DEFAULT_APPVIEW, DEFAULT_PDS};
pub use facets::{ByteSlice, Facet, Feature, MAX_GRAPHEMES};
pub use jetstream::{Delivery, Filter, JetEvent, JetPost, Jetstream, IDLE_LIMIT, REWIND};
pub use platform::{BlueskyPlatform, CursorStore};
pub use record::{
    images_embed, is_tid, key_for, record_key, AtUri, Image, PostRecord, ReplyRef, StrongRef, POST,
    PROFILE,
};
pub use repo::{NewPost, RecordPage, RecordView};
pub use session::{AppPassword, FileSessionStore, MemorySessionStore, Session, SessionStore};
pub use status::{is_post_uri, post_link};
pub use thread::ThreadPost;
