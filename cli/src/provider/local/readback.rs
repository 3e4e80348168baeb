//! Read-back on the local stack: every acknowledged receipt and payment id looked up in the
//! current writer's database (not sampled), plus duplicate credits.

use super::LocalProvider;
use crate::provider::*;

#[async_trait]
impl Readback for LocalProvider {
    async fn readback(&self, acked: &Acknowledged) -> Result<ReadbackReport, ProviderError> {
        let st = self.stack()?;
        // Wait (bounded) for a single writer: a failover may just have ended.
        let mut target = None;
        for _ in 0..50 {
            if let Ok(t) = self.snapshot().await {
                if let Some(w) = t.single_writer() {
                    target = Some(w.name.clone());
                    break;
                }
                if t.writers().is_empty() {
                    // No writer at all (nobody reacted): read what a surviving replica has.
                    if let Some(r) = t.regions.iter().find(|r| r.db_role == DbRole::Replica) {
                        target = Some(r.name.clone());
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Some(region) = target else {
            return Err(ProviderError::check(
                "no database could be read to verify acknowledged payments",
            ));
        };
        let err = |e: sqlx::Error| {
            ProviderError::action(format!("{region} database"), "reading payments", e)
        };
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&st.db_url(&region))
            .await
            .map_err(err)?;
        // An acknowledged callback is stored first and allocated after (at once, or by
        // the writer's inbox worker): give allocation a bounded moment to finish, so what
        // is read back is the payment, not only its stored callback.
        for _ in 0..100 {
            let pending: Option<i64> =
                sqlx::query_scalar("SELECT count(*) FROM callback_inbox WHERE status = 'pending'")
                    .fetch_one(&mut c)
                    .await
                    .ok();
            if pending.unwrap_or(0) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let have: Vec<String> =
            sqlx::query_scalar("SELECT receipt FROM payments WHERE receipt = ANY($1)")
                .bind(&acked.receipts)
                .fetch_all(&mut c)
                .await
                .map_err(err)?;
        let have: std::collections::HashSet<String> = have.into_iter().collect();
        let ids: Vec<uuid::Uuid> = acked
            .payment_ids
            .iter()
            .filter_map(|i| i.parse().ok())
            .collect();
        let have_ids: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM payments WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut c)
                .await
                .map_err(err)?;
        let have_ids: std::collections::HashSet<String> =
            have_ids.into_iter().map(|u| u.to_string()).collect();
        let mut missing: Vec<String> = acked
            .receipts
            .iter()
            .filter(|r| !have.contains(*r))
            .cloned()
            .collect();
        missing.extend(
            acked
                .payment_ids
                .iter()
                .filter(|i| !have_ids.contains(*i))
                .cloned(),
        );
        let dup: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM (SELECT receipt FROM payments WHERE receipt = ANY($1) GROUP BY receipt HAVING count(*) > 1) d)
                  + (SELECT count(*) FROM payments p WHERE p.receipt = ANY($1)
                       AND (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a WHERE a.payment_id = p.id) > p.amount)",
        )
        .bind(&acked.receipts)
        .fetch_one(&mut c)
        .await
        .map_err(err)?;
        c.close().await.ok();
        Ok(ReadbackReport {
            checked_on: region,
            missing,
            duplicate_credits: dup as u64,
        })
    }
}
