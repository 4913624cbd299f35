//! Platform sessions kept between runs: a Bluesky account's tokens, so that
//! a restart does not log in again (logins are limited per account). The
//! data is opaque here; the network layer decides what it holds, and
//! nothing here logs it.

use chrono::{DateTime, Utc};

use super::Store;

impl Store {
    /// The session data stored for `account`, if any.
    pub async fn platform_session(&self, account: &str) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT data FROM platform_sessions WHERE account = ?")
                .bind(account)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Stores (or replaces) `account`'s session data.
    pub async fn save_platform_session(
        &self,
        account: &str,
        data: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO platform_sessions (account, data, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (account) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(account)
        .bind(data)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_replaced_not_added_and_accounts_are_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        assert_eq!(store.platform_session("a").await.unwrap(), None);
        let now = Utc::now();
        store.save_platform_session("a", "one", now).await.unwrap();
        store.save_platform_session("a", "two", now).await.unwrap();
        store
            .save_platform_session("b", "other", now)
            .await
            .unwrap();
        assert_eq!(
            store.platform_session("a").await.unwrap().as_deref(),
            Some("two")
        );
        assert_eq!(
            store.platform_session("b").await.unwrap().as_deref(),
            Some("other")
        );
    }
}
