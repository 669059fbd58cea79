//! Server configuration: flags and environment variables (clap).

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "DAYLIGHT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `sqlite://FILE` (created if missing) or `postgres://...`.
    #[arg(long, env = "DAYLIGHT_DATABASE_URL", default_value = "sqlite://daylight.db")]
    pub database_url: String,
    /// Redis for fan-out between several server nodes (optional).
    #[arg(long, env = "DAYLIGHT_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The Redis pub/sub channel nodes announce changes on.
    #[arg(long, env = "DAYLIGHT_REDIS_CHANNEL", default_value = "daylight:changes")]
    pub redis_channel: String,
    /// How often a node polls the change log when Redis is not delivering
    /// notifications (milliseconds; ten times longer while it is).
    #[arg(long, env = "DAYLIGHT_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// A bootstrap admin token (empty counts as unset). Without one, and
    /// with no token and no account stored yet, the server prints a one-time
    /// setup link for the first admin's account.
    #[arg(long, env = "DAYLIGHT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// OFREP requests per second per SDK key on each node (0: no limit).
    /// Over it a key gets 429 with `Retry-After`.
    #[arg(long, env = "DAYLIGHT_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,
    /// Threads that serve requests, each with its own single-threaded
    /// runtime (default: one per CPU); fewer for a node that shares its host
    /// with other busy processes (a proxy, the apps).
    #[arg(long, env = "DAYLIGHT_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
    /// Serve each connection on one thread of its own (`true`, best for a
    /// host of its own) or on tokio's work-stealing scheduler (`false`: a
    /// request waits less when other busy processes, such as nginx in front
    /// of the routing endpoint, share the cores).
    #[arg(long, env = "DAYLIGHT_THREAD_PER_CORE", default_value_t = true, action = clap::ArgAction::Set)]
    pub thread_per_core: bool,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "DAYLIGHT_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How often the scheduler looks for due release-plan stages, scheduled
    /// changes and guard trips (milliseconds).
    #[arg(long, env = "DAYLIGHT_SCHEDULER_TICK_MS", default_value_t = 1000)]
    pub scheduler_tick_ms: u64,
    /// Stream connects per second per SDK key on each node (0: no limit).
    /// Over it: 429 with `Retry-After` when the key is in the upgrade's
    /// `Authorization` header, else an `error` message `rate_limited`.
    #[arg(long, env = "DAYLIGHT_STREAM_CONNECT_RATE", default_value_t = 0)]
    pub stream_connect_rate: u32,
    /// Open streams per SDK key on each node (0: no limit). Over it: 429, or
    /// an `error` message `too_many_connections`.
    #[arg(long, env = "DAYLIGHT_MAX_STREAMS_PER_KEY", default_value_t = 0)]
    pub max_streams_per_key: usize,
    /// Largest WebSocket message accepted from an SDK, in bytes.
    #[arg(long, env = "DAYLIGHT_MAX_WS_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_ws_message_bytes: usize,
    /// How often streams send a heartbeat (milliseconds); either side
    /// treats three silent intervals as a dead connection.
    #[arg(long, env = "DAYLIGHT_HEARTBEAT_MS", default_value_t = 15_000)]
    pub heartbeat_ms: u64,
    /// Bytes a stream may have waiting for an SDK that reads too slowly;
    /// past them the server closes it with `slow_consumer`.
    #[arg(long, env = "DAYLIGHT_STREAM_MAX_QUEUED_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub stream_max_queued_bytes: usize,
    /// A stream write that makes no progress for this long closes the
    /// connection with `slow_consumer` (milliseconds).
    #[arg(long, env = "DAYLIGHT_STREAM_WRITE_TIMEOUT_MS", default_value_t = 30_000)]
    pub stream_write_timeout_ms: u64,
    /// Origins browsers may use the stream and OFREP from, comma-separated
    /// (`https://app.example.com,https://admin.example.com`). Empty or `*`:
    /// any origin.
    #[arg(long, env = "DAYLIGHT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// How often each node scans the audit log for webhook deliveries and
    /// sends the due ones (milliseconds).
    #[arg(long, env = "DAYLIGHT_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// Attempts per webhook delivery before it is marked failed.
    #[arg(long, env = "DAYLIGHT_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub webhook_max_attempts: i64,
    /// The first retry delay of a failed delivery (milliseconds; doubles
    /// with each attempt, capped at an hour).
    #[arg(long, env = "DAYLIGHT_WEBHOOK_RETRY_MS", default_value_t = 5000)]
    pub webhook_retry_ms: u64,
    /// Timeout of one webhook request (milliseconds).
    #[arg(long, env = "DAYLIGHT_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Networks webhooks may deliver to although they are not public, as
    /// CIDRs, comma-separated (`10.0.0.0/8,127.0.0.1/32`). By default
    /// loopback, private and link-local addresses are refused.
    #[arg(long, env = "DAYLIGHT_WEBHOOK_ALLOWED_NETWORKS", value_delimiter = ',')]
    pub webhook_allowed_networks: Vec<ipnet::IpNet>,
    /// Days of per-minute SDK usage aggregates to keep (0: forever).
    #[arg(long, env = "DAYLIGHT_USAGE_RETENTION_DAYS", default_value_t = 90)]
    pub usage_retention_days: u64,
    /// How often a node writes the SDK usage reports it received
    /// (milliseconds).
    #[arg(long, env = "DAYLIGHT_USAGE_FLUSH_MS", default_value_t = 1000)]
    pub usage_flush_ms: u64,
    /// SDK usage reports per second per key on each node (0: no limit).
    /// Over it: 429 with `Retry-After` (HTTP), or the stream report is
    /// dropped. SDKs report every 10 s, so 1000 covers 10,000 SDKs sharing
    /// one key on one node.
    #[arg(long, env = "DAYLIGHT_USAGE_RATE_LIMIT", default_value_t = 1000)]
    pub usage_rate_limit: u32,
    /// Distinct event names one SDK key may report (per node; 0: no cap).
    /// Events with further names are dropped.
    #[arg(long, env = "DAYLIGHT_USAGE_MAX_EVENTS_PER_KEY", default_value_t = 500)]
    pub usage_max_events_per_key: usize,
    /// Distinct event names attributed to one flag in one environment (per
    /// node; 0: no cap). Events with further names are dropped.
    #[arg(long, env = "DAYLIGHT_USAGE_MAX_EVENTS_PER_FLAG", default_value_t = 100)]
    pub usage_max_events_per_flag: usize,
    /// Wrong admin credentials per client address per minute (0: no
    /// limit). Over it the address gets 429 with `Retry-After` before its
    /// secret is even looked up.
    #[arg(long, env = "DAYLIGHT_AUTH_FAILURES_PER_MINUTE", default_value_t = 60)]
    pub auth_failures_per_minute: u32,
    /// Minutes a console session may stay unused before it ends.
    #[arg(long, env = "DAYLIGHT_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: u64,
    /// Hours after sign-in a console session ends, used or not.
    #[arg(long, env = "DAYLIGHT_SESSION_MAX_HOURS", default_value_t = 168)]
    pub session_max_hours: u64,
    /// Mark the session cookie `Secure` (set it when people reach the
    /// console over https, e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "DAYLIGHT_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// The OpenID Connect issuer (`https://idp.example.com/realms/acme`);
    /// with it and a client id, people may sign in through the provider
    /// (docs/people.md). Its discovery document is read on first use.
    #[arg(long, env = "DAYLIGHT_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id Daylight is registered under at the provider.
    #[arg(long, env = "DAYLIGHT_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client's secret (none for a public client; PKCE is always used).
    #[arg(long, env = "DAYLIGHT_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// The provider's name on the console's sign-in button.
    #[arg(long, env = "DAYLIGHT_OIDC_NAME", default_value = "Single sign-on")]
    pub oidc_name: String,
    /// The claim (ID token or userinfo) whose values give the role: a
    /// string or a list of strings, e.g. `groups`.
    #[arg(long, env = "DAYLIGHT_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,
    /// Claim values and the role each gives, comma-separated:
    /// `daylight-admins=admin,daylight-editors=editor`. The highest role
    /// matched wins.
    #[arg(long, env = "DAYLIGHT_OIDC_ROLES", value_delimiter = ',')]
    pub oidc_roles: Vec<String>,
    /// Per-environment roles from the same claim, comma-separated
    /// `VALUE:ENVIRONMENT=ROLE` (`viewer` or `editor`), e.g.
    /// `contractors:production=viewer,staging-team:staging=editor`. Where
    /// several values name one environment, the highest role wins. An
    /// admin's role holds everywhere.
    #[arg(long, env = "DAYLIGHT_OIDC_ENV_ROLES", value_delimiter = ',')]
    pub oidc_env_roles: Vec<String>,
    /// The role of a person none of whose claim values is mapped. Unset
    /// (the default), such a person is refused.
    #[arg(long, env = "DAYLIGHT_OIDC_DEFAULT_ROLE")]
    pub oidc_default_role: Option<String>,
    /// Scopes asked for besides `openid`, comma-separated (some providers
    /// need e.g. `groups` to send the role claim).
    #[arg(
        long,
        env = "DAYLIGHT_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "email,profile"
    )]
    pub oidc_scopes: Vec<String>,
    /// The address people reach Daylight at (`https://flags.example.com`):
    /// the provider sends them back to `/api/v1/session/oidc/callback` there.
    #[arg(long, env = "DAYLIGHT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// When set, `/metrics` answers only requests with `Authorization:
    /// Bearer <this token>` (it names flags, including server-only ones).
    #[arg(long, env = "DAYLIGHT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Change-log versions kept per environment (0: all). Older rows are
    /// deleted once an hour; an SDK further behind gets a snapshot.
    #[arg(long, env = "DAYLIGHT_CHANGE_LOG_KEEP", default_value_t = 10_000)]
    pub change_log_keep: u64,
    /// Days of audit-log entries to keep (0: forever, the default).
    #[arg(long, env = "DAYLIGHT_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    pub audit_retention_days: u64,
    /// Secrets (at least 32 characters; comma-separated, the first signs)
    /// for the routing endpoint's sticky cookie: with one, the cookie is
    /// `ID.HMAC` and an id whose signature does not verify is ignored
    /// (`docs/recipes/blue-green.md`).
    #[arg(long, env = "DAYLIGHT_ROUTE_SECRET", hide_env_values = true, value_delimiter = ',')]
    pub route_secret: Vec<String>,
}

/// What each stream connection goes by (`docs/protocol.md`).
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    pub heartbeat: Duration,
    pub max_queued_bytes: usize,
    pub write_timeout: Duration,
}

impl Settings {
    pub fn stream(&self) -> StreamSettings {
        StreamSettings {
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(10)),
            max_queued_bytes: self.stream_max_queued_bytes,
            write_timeout: Duration::from_millis(self.stream_write_timeout_ms.max(1)),
        }
    }

    pub fn sessions(&self) -> crate::auth::session::SessionPolicy {
        crate::auth::session::SessionPolicy {
            idle_ms: (self.session_idle_minutes.max(1) * 60_000) as i64,
            max_ms: (self.session_max_hours.max(1) * 3_600_000) as i64,
            secure_cookie: self.secure_cookies,
        }
    }

    /// Settings for tests: an ephemeral port and the given database.
    pub fn for_tests(database_url: String, admin_token: &str) -> Settings {
        Settings {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            database_url,
            redis_url: None,
            redis_channel: "daylight:changes".into(),
            poll_ms: 1000,
            admin_token: Some(admin_token.to_owned()),
            max_body_bytes: 8 * 1024 * 1024,
            rate_limit: 0,
            scheduler_tick_ms: 200,
            stream_connect_rate: 0,
            max_streams_per_key: 0,
            max_ws_message_bytes: 64 * 1024,
            heartbeat_ms: 15_000,
            stream_max_queued_bytes: 8 * 1024 * 1024,
            stream_write_timeout_ms: 30_000,
            allowed_origins: Vec::new(),
            webhook_poll_ms: 100,
            webhook_max_attempts: 8,
            webhook_retry_ms: 100,
            webhook_timeout_ms: 2000,
            webhook_allowed_networks: Vec::new(),
            usage_retention_days: 90,
            usage_flush_ms: 100,
            usage_rate_limit: 1000,
            auth_failures_per_minute: 60,
            session_idle_minutes: 720,
            session_max_hours: 168,
            secure_cookies: false,
            usage_max_events_per_key: 500,
            usage_max_events_per_flag: 100,
            metrics_token: None,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_name: "Single sign-on".into(),
            oidc_role_claim: "groups".into(),
            oidc_roles: Vec::new(),
            oidc_env_roles: Vec::new(),
            oidc_default_role: None,
            oidc_scopes: vec!["email".into(), "profile".into()],
            public_url: None,
            change_log_keep: 10_000,
            audit_retention_days: 0,
            route_secret: Vec::new(),
            worker_threads: None,
            thread_per_core: true,
        }
    }
}
