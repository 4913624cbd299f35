//! Command line. (in progress: owned by the lead)
