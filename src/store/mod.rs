//! SQLite storage. (in progress: owned by the lead)
