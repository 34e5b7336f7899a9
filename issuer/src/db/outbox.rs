//! The `outbox` table: events written with the change they describe, relayed after commit.

use common::events::Event;
use common::telemetry::trace_context::TraceContext;
use deadpool_postgres::GenericClient;
use tracing::Instrument;

use super::DbError;

/// Queues `event`, with the trace context of the request that caused it (when spans are
/// exported).
pub async fn insert(db: &impl GenericClient, event: &Event) -> Result<(), DbError> {
    let trace = TraceContext::current();
    async {
        let payload = event.to_json();
        let statement = db
            .prepare_cached(
                "INSERT INTO outbox (event_id, event_type, payload, created_at, traceparent, \
                 tracestate) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        db.execute(
            &statement,
            &[
                &event.event_id,
                &event.event_type,
                &payload,
                &event.timestamp,
                &trace.as_ref().map(|t| t.traceparent.as_str()),
                &trace.as_ref().and_then(|t| t.tracestate.as_deref()),
            ],
        )
        .await?;
        Ok(())
    }
    .instrument(super::span!("outbox.insert"))
    .await
}

/// Queues many events in one statement, in the order given, each with the trace context of the
/// request that caused them.
pub async fn insert_many(db: &impl GenericClient, events: &[Event]) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let trace = TraceContext::current();
    async {
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let payloads: Vec<serde_json::Value> = events.iter().map(Event::to_json).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            events.iter().map(|e| e.timestamp).collect();
        let statement = db
            .prepare_cached(
                "INSERT INTO outbox (event_id, event_type, payload, created_at, traceparent, \
                 tracestate) \
                 SELECT event_id, event_type, payload, created_at, $5, $6 \
                 FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[]) \
                 WITH ORDINALITY AS e(event_id, event_type, payload, created_at, n) ORDER BY n",
            )
            .await?;
        db.execute(
            &statement,
            &[
                &ids,
                &types,
                &payloads,
                &times,
                &trace.as_ref().map(|t| t.traceparent.as_str()),
                &trace.as_ref().and_then(|t| t.tracestate.as_deref()),
            ],
        )
        .await?;
        Ok(())
    }
    .instrument(super::span!("outbox.insert_many"))
    .await
}

/// An event waiting to be published.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// The trace the event belongs to, for its NATS headers.
    pub trace: Option<TraceContext>,
}

/// Takes the advisory lock that lets one relay at a time publish, for this transaction.
/// Returns false when another relay holds it.
pub async fn try_lock_relay(db: &impl GenericClient) -> Result<bool, DbError> {
    let statement = db
        .prepare_cached("SELECT pg_try_advisory_xact_lock(7243002)")
        .await?;
    Ok(db.query_one(&statement, &[]).await?.try_get(0)?)
}

/// The oldest unpublished events, locked until the transaction ends.
pub async fn pending(db: &impl GenericClient, limit: i64) -> Result<Vec<Pending>, DbError> {
    let statement = db
        .prepare_cached(
            "SELECT id, event_id, event_type, payload, traceparent, tracestate FROM outbox \
             WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    db.query(&statement, &[&limit])
        .await?
        .iter()
        .map(|row| {
            let traceparent: Option<String> = row.try_get("traceparent")?;
            let tracestate: Option<String> = row.try_get("tracestate")?;
            Ok(Pending {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                payload: row.try_get("payload")?,
                trace: traceparent.map(|traceparent| TraceContext {
                    traceparent,
                    tracestate,
                }),
            })
        })
        .collect()
}

/// Marks events sent, and removes the verification or reset token from their stored payload: the
/// mailer has it from the stream, and a published row stays until it is pruned, long after the
/// token should exist anywhere but as its hash.
pub async fn mark_published(
    db: &impl GenericClient,
    ids: &[i64],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE outbox SET published_at = $2, \
             payload = payload #- '{data,email_verification_token}' \
             #- '{data,password_reset_token}' WHERE id = ANY($1)",
        )
        .await?;
    db.execute(&statement, &[&ids, &now]).await?;
    Ok(())
}

/// How many events wait to be published.
pub async fn backlog(db: &impl GenericClient) -> Result<i64, DbError> {
    let statement = db
        .prepare_cached("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .await?;
    Ok(db.query_one(&statement, &[]).await?.try_get(0)?)
}

/// Deletes events published before `before`.
pub async fn prune(
    db: &impl GenericClient,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached("DELETE FROM outbox WHERE published_at < $1")
        .await?;
    Ok(db.execute(&statement, &[&before]).await?)
}

/// Events that carry a token mailed to the user: a deleted account's unpublished ones are
/// dropped rather than sent (see docs/EVENTS.md).
pub const MAILED_TOKEN_EVENTS: [&str; 3] = [
    "user.registered",
    "user.verification_requested",
    "user.password_reset_requested",
];

/// Deletes the unpublished events of `event_types` that name `user_id`; returns how many.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "outbox.discard_unsent_for_user", otel.kind = "client", db.system = "postgresql", db.operation.name = "outbox.discard_unsent_for_user"))]
pub async fn discard_unsent_for_user(
    db: &impl GenericClient,
    user_id: uuid::Uuid,
    event_types: &[&str],
) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached(
            "DELETE FROM outbox WHERE published_at IS NULL AND event_type = ANY($2) \
             AND payload->'data'->>'user_id' = $1::uuid::text",
        )
        .await?;
    Ok(db.execute(&statement, &[&user_id, &event_types]).await?)
}
