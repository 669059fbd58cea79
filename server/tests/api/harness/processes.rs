//! Processes a test can kill: a throwaway `redis-server`, a `daylight
//! serve` child; and a free port to start them on.

use super::ADMIN;

/// A throwaway `redis-server` on a free port, stopped (killed) on drop. Tests
/// that stop Redis use this, never the shared one.
pub struct ThrowawayRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl ThrowawayRedis {
    pub fn start() -> ThrowawayRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = ThrowawayRedis { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `daylight serve` process (so a test can kill it), killed when dropped
/// so a failing test leaves none behind.
pub struct ServerProcess(std::process::Child);

impl ServerProcess {
    /// Starts the server binary on `port` with database `db` and waits until
    /// `/healthz` answers.
    pub async fn start(db: &str, port: u16) -> ServerProcess {
        ServerProcess::start_with(db, port, &[]).await
    }

    /// [`ServerProcess::start`] with more environment variables.
    pub async fn start_with(db: &str, port: u16, env: &[(&str, &str)]) -> ServerProcess {
        let server = ServerProcess(
            std::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
                .arg("serve")
                .env("DAYLIGHT_DATABASE_URL", db)
                .env("DAYLIGHT_LISTEN", format!("127.0.0.1:{port}"))
                .env("DAYLIGHT_ADMIN_TOKEN", ADMIN)
                .env("DAYLIGHT_HEARTBEAT_MS", "300")
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .spawn()
                .expect("the server binary starts"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            assert!(std::time::Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        server
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends a signal (`TERM`, `INT`) as `kill -SIGNAL` would.
    #[allow(dead_code)]
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The exit status, once the process has ended (fails after `secs`).
    #[allow(dead_code)]
    pub async fn exited_within(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.0.try_wait().expect("the process can be waited for") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "still running after {secs} s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}
