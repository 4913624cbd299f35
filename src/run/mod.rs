//! The daemon. (in progress: owned by the lead)
