//! SQLite: the sessions platforms keep per account.

use chrono::{DateTime, Utc};

use super::SqliteBackend;

impl SqliteBackend {
    pub(crate) async fn platform_session(&self, account: &str) -> anyhow::Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT data FROM platform_sessions WHERE account = ?")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn save_platform_session(
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
