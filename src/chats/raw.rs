//! Raw serde structs of chats.yaml. STUB: owned by the config helper.
