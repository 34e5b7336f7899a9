//! The `outbox` table: events written with the change they describe, relayed after commit.

use common::events::Event;
use deadpool_postgres::GenericClient;

use super::DbError;

pub async fn insert(db: &impl GenericClient, event: &Event) -> Result<(), DbError> {
    let payload = event.to_json();
    let statement = db
        .prepare_cached(
            "INSERT INTO outbox (event_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    db.execute(
        &statement,
        &[
            &event.event_id,
            &event.event_type,
            &payload,
            &event.timestamp,
        ],
    )
    .await?;
    Ok(())
}
