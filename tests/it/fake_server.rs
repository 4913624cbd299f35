//! In-process fake Mastodon server (axum). Owned by the network helper.
