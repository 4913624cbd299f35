//! Logging set-up. (in progress: owned by the lead)
