//! Reads a run's recap from the store. (in progress: owned by the lead)
pub fn build() {}
