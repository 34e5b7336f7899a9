//! Hourly pruning of rows nobody needs any more: published outbox events past
//! `OUTBOX_RETENTION_HOURS`, failed-login counts nobody has added to for a day, and login
//! addresses older than `LOGIN_KNOWN_ADDRESS_DAYS`. Every replica prunes; the deletes are
//! idempotent, so they need no coordination.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::config::IssuerConfig;
use crate::db::{self, DbError};

const EVERY: Duration = Duration::from_secs(3600);

/// Prunes at once, then every hour, until `shutdown` completes.
pub async fn run(pool: Pool, config: IssuerConfig, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        prune(&pool, &config).await;
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = &mut shutdown => break,
        }
    }
}

async fn prune(pool: &Pool, config: &IssuerConfig) {
    let now = Utc::now();
    if let Ok(retention) = chrono::TimeDelta::from_std(config.settings.outbox_retention) {
        let published_before = now - retention;
        report(
            "published outbox rows",
            with_client(pool, |client| async move {
                db::outbox::prune(&*client, published_before).await
            })
            .await,
        );
    }
    let stale = now - crate::auth::login::FAILURE_MEMORY;
    report(
        "stale login failure counts",
        with_client(pool, |client| async move {
            db::login_failures::prune(&*client, stale, now).await
        })
        .await,
    );
    let forget_before: DateTime<Utc> = crate::auth::login::known_address_cutoff(config, now);
    report(
        "known login addresses",
        with_client(pool, |client| async move {
            db::known_addresses::prune(&*client, forget_before).await
        })
        .await,
    );
}

/// `work` with a pooled connection, under the database deadline of a use case.
async fn with_client<F, Fut>(pool: &Pool, work: F) -> Result<u64, DbError>
where
    F: FnOnce(db::Lease) -> Fut,
    Fut: Future<Output = Result<u64, DbError>>,
{
    db::deadline(pool, async {
        let client = db::client(pool).await?;
        work(client).await
    })
    .await
}

fn report(what: &str, result: Result<u64, DbError>) {
    match result {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "pruned {what}"),
        Err(err) => tracing::warn!(error = %err, "pruning {what} failed"),
    }
}
