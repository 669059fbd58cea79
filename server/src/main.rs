//! `daylight`: the server (`daylight serve`) and the CLI for deploy scripts.

use clap::{Parser, Subcommand};
use daylight_server::cli::{self, Remote};
use daylight_server::{Application, Settings};
use tracing_subscriber::EnvFilter;

// Every request allocates (headers, bodies, futures); glibc's malloc and
// free were a quarter of the instructions of an OFREP request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "daylight", version, about = "Feature flags and staged rollouts")]
struct Cli {
    #[command(subcommand)]
    command: Option<Top>,
    #[command(flatten)]
    remote: Remote,
}

/// Parses the server settings alone (from the environment and defaults),
/// for a bare `daylight` with no subcommand.
#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
// Parsed once at start: the size of the settings costs nothing.
#[allow(clippy::large_enum_variant)]
enum Top {
    /// Runs the server (the default with no subcommand).
    Serve(Settings),
    /// Keeps one environment's flags in a local file (and optionally Redis)
    /// for apps that cannot hold a stream, e.g. PHP (docs/sdk-php.md).
    Sync(daylight_server::sync::SyncArgs),
    /// Checks flags-as-code files offline (docs/flags-as-code.md): exit 0
    /// valid, 1 invalid, 2 usage error.
    Validate(daylight_server::flagfile::command::ValidateArgs),
    /// Generates typed accessors (TypeScript or Rust) for the flags in
    /// flags-as-code files.
    ///
    /// One getter per flag, typed by its variations, so that a typo in a key
    /// does not compile (docs/flags-as-code.md, "Typed accessors"). The files
    /// are validated first. Exit 0 written, 1 invalid files or colliding
    /// names, 2 usage error.
    Codegen(daylight_server::flagfile::codegen::CodegenArgs),
    /// Writes every flag and segment in the flags-as-code format.
    Export(cli::flagfile::ExportArgs),
    /// What applying flags-as-code files to an environment would change:
    /// exit 0 nothing to do, 2 changes pending, 1 error.
    Plan(cli::flagfile::PlanArgs),
    /// Applies flags-as-code files to an environment, all or nothing.
    Apply(cli::flagfile::ApplyArgs),
    /// Copies flags' rules, rollout and targets from one environment to
    /// another, with the segments they use: shows the diff, applies with
    /// `--yes` (or when asked). Exit 0 applied or nothing to do, 2 not
    /// applied, 1 error.
    Promote(cli::promote::PromoteArgs),
    /// Translates Unleash's or flagd's flags into a flags-as-code file; a
    /// dry run (report and plan) unless `--apply`.
    Import(cli::import::ImportArgs),
    #[command(flatten)]
    Client(cli::Command),
}

fn main() {
    let args = Cli::parse();
    let command = args
        .command
        .unwrap_or_else(|| Top::Serve(ServeOnly::parse_from(["daylight"]).settings));
    // With a thread per core, requests are served on threads of their own
    // (`http::workers`) and this runtime accepts connections and runs the
    // background jobs; else it serves requests too.
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    match &command {
        Top::Serve(Settings {
            thread_per_core: false,
            worker_threads: Some(threads),
            ..
        }) => {
            runtime.worker_threads(usize::from(*threads));
        }
        Top::Serve(Settings {
            thread_per_core: false, ..
        }) => {}
        _ => {
            runtime.worker_threads(1);
        }
    }
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    let code = runtime.block_on(async move {
        match command {
            Top::Serve(settings) => serve(settings).await,
            Top::Validate(validate) => daylight_server::flagfile::command::run(
                &validate,
                jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date(),
            ),
            Top::Codegen(codegen) => daylight_server::flagfile::codegen::run(
                &codegen,
                jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date(),
            ),
            Top::Export(export) => cli::flagfile::export(&args.remote, &export).await,
            Top::Plan(plan) => cli::flagfile::plan(&args.remote, &plan).await,
            Top::Apply(apply) => cli::flagfile::apply(&args.remote, &apply).await,
            Top::Promote(promote) => cli::promote::run(&args.remote, &promote).await,
            Top::Import(import) => cli::import::run(&args.remote, &import).await,
            Top::Sync(sync) => daylight_server::sync::run(&args.remote.url, sync).await,
            Top::Client(command) => cli::run(args.remote, command).await,
        }
    });
    std::process::exit(code);
}

async fn serve(settings: Settings) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let public_url = settings.public_url.clone();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("daylight: cannot start: {e}");
            return 1;
        }
    };
    if let Some(code) = &app.setup_code {
        let base = public_url.unwrap_or_else(|| {
            let addr = app.local_addr().ok();
            let port = addr.map(|a| a.port()).unwrap_or_default();
            match addr.map(|a| a.ip()) {
                Some(ip) if !ip.is_unspecified() => format!("http://{}", std::net::SocketAddr::new(ip, port)),
                _ => format!("http://127.0.0.1:{port}"),
            }
        });
        println!(
            "No one can sign in yet. Open this link to create the first admin account (it works once, for 7 days):\n\n    {}/#/setup/{code}\n",
            base.trim_end_matches('/')
        );
    }
    tracing::info!(address = %app.local_addr().map(|a| a.to_string()).unwrap_or_default(), "daylight is listening");
    match app.run().await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("daylight: {e}");
            1
        }
    }
}
