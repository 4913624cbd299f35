//! Shared helpers for the renderers. STUB.
