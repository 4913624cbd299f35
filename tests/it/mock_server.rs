//! Harness for the independent mastodon-mock server (PyPI). Owned by the e2e helper.
