//! Server configuration: flags and environment variables (clap).

use std::net::SocketAddr;

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
    /// A bootstrap admin token. Without one, and with no token stored yet, a
    /// token is generated and printed once.
    #[arg(long, env = "DAYLIGHT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// OFREP requests per second per SDK key on each node (0: no limit).
    /// Over it a key gets 429 with `Retry-After`.
    #[arg(long, env = "DAYLIGHT_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "DAYLIGHT_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

impl Settings {
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
        }
    }
}
