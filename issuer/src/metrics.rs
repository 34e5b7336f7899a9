//! The issuer's metrics: the shared HTTP and token-validation families, logins, registrations,
//! the outbox relay, NATS and the database pool. Gauges that describe the present (backlog,
//! pool, NATS) are read at scrape time.

use std::time::Duration;

use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use common::metrics::{self as shared, EndpointValidations, HttpMetrics, TokenValidations};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::db;
use crate::state::AppState;

/// How long a scrape waits for the outbox count before reporting the last one it had.
const BACKLOG_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How a login ended, as `logins_total{outcome}` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    EmailNotVerified,
    RateLimited,
    /// The password matched; an operator disabled the account.
    AccountDisabled,
    /// The request itself was refused (bad JSON, missing field, oversized body).
    InvalidRequest,
    /// Postgres or the password hasher was unavailable.
    Unavailable,
    Error,
}

impl LoginOutcome {
    const ALL: [LoginOutcome; 8] = [
        LoginOutcome::Success,
        LoginOutcome::InvalidCredentials,
        LoginOutcome::EmailNotVerified,
        LoginOutcome::RateLimited,
        LoginOutcome::AccountDisabled,
        LoginOutcome::InvalidRequest,
        LoginOutcome::Unavailable,
        LoginOutcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::InvalidCredentials => "invalid_credentials",
            LoginOutcome::EmailNotVerified => "email_not_verified",
            LoginOutcome::RateLimited => "rate_limited",
            LoginOutcome::AccountDisabled => "account_disabled",
            LoginOutcome::InvalidRequest => "invalid_request",
            LoginOutcome::Unavailable => "unavailable",
            LoginOutcome::Error => "error",
        }
    }

    /// The outcome of a login answered with `result`.
    pub fn of(result: &Result<Response, ApiError>) -> LoginOutcome {
        let Err(err) = result else {
            return LoginOutcome::Success;
        };
        match err.code {
            ErrorCode::InvalidCredentials => LoginOutcome::InvalidCredentials,
            ErrorCode::EmailNotVerified => LoginOutcome::EmailNotVerified,
            ErrorCode::RateLimited => LoginOutcome::RateLimited,
            ErrorCode::AccountDisabled => LoginOutcome::AccountDisabled,
            ErrorCode::ValidationError
            | ErrorCode::InvalidEmail
            | ErrorCode::PayloadTooLarge
            | ErrorCode::MethodNotAllowed => LoginOutcome::InvalidRequest,
            ErrorCode::ServiceUnavailable => LoginOutcome::Unavailable,
            ErrorCode::DuplicateEmail
            | ErrorCode::PasswordMismatch
            | ErrorCode::WeakPassword
            | ErrorCode::UserNotFound
            | ErrorCode::InvalidToken
            | ErrorCode::ExpiredToken
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::InternalError => LoginOutcome::Error,
        }
    }
}

/// What `account_actions_total{action}` counts: sessions and accounts their owners ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountAction {
    LogoutAll,
    SessionDeleted,
    AccountDeleted,
}

impl AccountAction {
    const ALL: [AccountAction; 3] = [
        AccountAction::LogoutAll,
        AccountAction::SessionDeleted,
        AccountAction::AccountDeleted,
    ];

    fn label(self) -> &'static str {
        match self {
            AccountAction::LogoutAll => "logout_all",
            AccountAction::SessionDeleted => "session_deleted",
            AccountAction::AccountDeleted => "account_deleted",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A password operation: asking for a reset, confirming one, changing the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordOperation {
    ResetRequest,
    ResetConfirm,
    Change,
}

impl PasswordOperation {
    fn label(self) -> &'static str {
        match self {
            PasswordOperation::ResetRequest => "reset_request",
            PasswordOperation::ResetConfirm => "reset_confirm",
            PasswordOperation::Change => "change",
        }
    }
}

/// What a password-reset job did after the request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetJobOutcome {
    /// A token was issued and its event queued.
    Issued,
    /// No account has the email.
    NoAccount,
    /// The account is disabled: no token.
    AccountDisabled,
    /// The database failed; the request was answered 202 all the same.
    Failed,
}

impl ResetJobOutcome {
    fn label(self) -> &'static str {
        match self {
            ResetJobOutcome::Issued => "issued",
            ResetJobOutcome::NoAccount => "no_account",
            ResetJobOutcome::AccountDisabled => "account_disabled",
            ResetJobOutcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PasswordLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// `password_operations_total{operation, outcome}` and `password_reset_jobs_total{outcome}`.
#[derive(Debug)]
pub struct PasswordMetrics {
    operations: Family<PasswordLabels, Counter>,
    jobs: Family<OutcomeLabels, Counter>,
}

impl PasswordMetrics {
    fn register(registry: &mut Registry) -> PasswordMetrics {
        let operations = Family::<PasswordLabels, Counter>::default();
        registry.register(
            "password_operations",
            "Password reset requests and confirmations and password changes, by outcome",
            operations.clone(),
        );
        let jobs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "password_reset_jobs",
            "Password reset requests handled after their answer, by outcome",
            jobs.clone(),
        );
        PasswordMetrics { operations, jobs }
    }

    /// Counts one request answered with `result`.
    pub fn operation(&self, operation: PasswordOperation, result: &Result<Response, ApiError>) {
        let outcome = match result {
            Ok(_) => "success",
            Err(err) => match err.code {
                ErrorCode::InvalidToken => "invalid_token",
                ErrorCode::ExpiredToken => "expired_token",
                ErrorCode::InvalidCredentials => "invalid_credentials",
                ErrorCode::WeakPassword => "weak_password",
                ErrorCode::PasswordMismatch => "password_mismatch",
                ErrorCode::AccountDisabled => "account_disabled",
                ErrorCode::RateLimited => "rate_limited",
                ErrorCode::ValidationError
                | ErrorCode::InvalidEmail
                | ErrorCode::PayloadTooLarge
                | ErrorCode::MethodNotAllowed => "invalid_request",
                ErrorCode::ServiceUnavailable => "unavailable",
                _ => "error",
            },
        };
        self.operations
            .get_or_create(&PasswordLabels {
                operation: operation.label(),
                outcome,
            })
            .inc();
    }

    pub fn reset_job(&self, outcome: ResetJobOutcome) {
        self.jobs
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }
}

/// What the outbox relay records.
#[derive(Clone, Debug, Default)]
pub struct OutboxMetrics {
    pub published: Counter,
    /// Relay rounds that stopped on a failed publish or stream set-up.
    pub publish_failures: Counter,
}

#[derive(Debug)]
pub struct IssuerMetrics {
    registry: Registry,
    pub http: HttpMetrics,
    /// `token_validations_total{endpoint="validate-token"}`.
    pub validations: EndpointValidations,
    logins: [Counter; LoginOutcome::ALL.len()],
    registrations: Counter,
    account_actions: [Counter; AccountAction::ALL.len()],
    pub outbox: OutboxMetrics,
    pub passwords: PasswordMetrics,
    outbox_backlog: Gauge,
    nats_connected: Gauge,
    db_pool_size: Gauge,
    db_pool_available: Gauge,
    db_pool_waiting: Gauge,
}

impl IssuerMetrics {
    /// `routes` (method, path template) are the router's routes.
    pub fn new(routes: &[(&'static str, &'static str)]) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, routes);
        let validations = TokenValidations::register(&mut registry).endpoint("validate-token");
        let logins_family = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "logins",
            "Login attempts, by outcome",
            logins_family.clone(),
        );
        let logins = LoginOutcome::ALL.map(|outcome| {
            logins_family.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.label(),
            })
        });
        let registrations = shared::counter(
            &mut registry,
            "registrations",
            "Accounts created (successful registrations)",
        );
        let actions_family = Family::<ActionLabels, Counter>::default();
        registry.register(
            "account_actions",
            "Successful logout-all, session deletions and account deletions by their owners",
            actions_family.clone(),
        );
        let account_actions = AccountAction::ALL.map(|action| {
            actions_family.get_or_create_owned(&ActionLabels {
                action: action.label(),
            })
        });
        let outbox = OutboxMetrics::default();
        registry.register(
            "outbox_published",
            "Events the relay published to JetStream and marked sent",
            outbox.published.clone(),
        );
        registry.register(
            "outbox_publish_failures",
            "Relay rounds that stopped on a failed publish (the events are retried)",
            outbox.publish_failures.clone(),
        );
        let passwords = PasswordMetrics::register(&mut registry);
        IssuerMetrics {
            passwords,
            outbox_backlog: shared::gauge(
                &mut registry,
                "outbox_backlog",
                "Events committed but not yet published",
            ),
            nats_connected: shared::nats_connected(&mut registry),
            db_pool_size: shared::gauge(
                &mut registry,
                "db_pool_size",
                "Postgres connections the pool holds open",
            ),
            db_pool_available: shared::gauge(
                &mut registry,
                "db_pool_available",
                "Pooled Postgres connections idle and ready",
            ),
            db_pool_waiting: shared::gauge(
                &mut registry,
                "db_pool_waiting",
                "Requests waiting for a Postgres connection",
            ),
            registry,
            http,
            validations,
            logins,
            registrations,
            account_actions,
            outbox,
        }
    }

    pub fn login(&self, outcome: LoginOutcome) {
        // `ALL` lists the variants in declaration order.
        self.logins[outcome as usize].inc();
    }

    pub fn account_action(&self, action: AccountAction) {
        // `ALL` lists the variants in declaration order.
        self.account_actions[action as usize].inc();
    }

    pub fn registered(&self) {
        self.registrations.inc();
    }

    /// `GET /metrics`: refreshes the gauges, then encodes everything.
    pub async fn render(&self, state: &AppState) -> Result<Response, ApiError> {
        let status = state.pool.status();
        self.db_pool_size
            .set(i64::try_from(status.size).unwrap_or(i64::MAX));
        self.db_pool_available
            .set(i64::try_from(status.available).unwrap_or(i64::MAX));
        self.db_pool_waiting
            .set(i64::try_from(status.waiting).unwrap_or(i64::MAX));
        self.nats_connected
            .set(i64::from(state.relay.nats_connected()));
        let backlog = tokio::time::timeout(
            BACKLOG_QUERY_TIMEOUT,
            db::deadline(&state.pool, async {
                db::outbox::backlog(&*db::client(&state.pool).await?).await
            }),
        )
        .await;
        match backlog {
            Ok(Ok(backlog)) => {
                self.outbox_backlog.set(backlog);
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "metrics: outbox backlog unavailable")
            }
            Err(_) => tracing::debug!("metrics: outbox backlog query timed out"),
        }
        shared::response(&self.registry)
    }
}
