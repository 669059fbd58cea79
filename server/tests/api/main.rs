//! API integration tests: a real server on an ephemeral port, on SQLite and
//! (when `DAYLIGHT_TEST_POSTGRES_URL` is set) PostgreSQL. One binary, one
//! harness (`harness/`); `TEST_LOG=1` shows the server's logs.

mod harness;

/// Runs a test body once per backend, each on a fresh server and database
/// (with a second argument, `|s: &mut Settings| …`: with settings changed).
macro_rules! on_each_backend {
    ($name:ident, |$app:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in crate::harness::backends() {
                let $app = crate::harness::spawn_app(backend).await;
                $body
            }
        }
    };
    ($name:ident, $configure:expr, |$app:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in crate::harness::backends() {
                let $app = crate::harness::spawn_app_with(backend, $configure).await;
                $body
            }
        }
    };
}

mod access;
mod bad_input;
mod bundles;
mod change_requests;
mod cli;
mod cli_people;
mod cli_requests;
mod client_values;
mod codegen;
mod cohorts;
mod console;
mod destructive;
mod env_roles;
mod explain;
mod flagfile;
mod flagfile_approvals;
mod flags;
mod freezes;
mod history;
mod import;
mod kill_switch;
mod limits;
mod logs;
mod migrations;
mod nodes;
mod ofrep;
mod ofrep_browsers;
mod oidc;
mod openapi;
mod outage;
mod people;
mod php_e2e;
mod preamble;
mod promote;
mod protocol_v1;
mod receipts;
mod releases;
mod routing;
mod scheduled_changes;
mod scheduled_requests;
mod sdk;
mod security;
mod segments;
mod setup;
mod shutdown;
mod stream;
mod usage;
mod usage_limits;
mod webhooks;
