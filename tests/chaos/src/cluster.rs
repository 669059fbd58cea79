//! The processes under test: server nodes (the real `daylight` binary, each
//! on a fixed port so it can be killed and started again on it), a throwaway
//! `redis-server`, and a fresh PostgreSQL database on the shared server.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// One server node. Killed on drop.
pub struct Node {
    pub index: usize,
    pub port: u16,
    bin: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn new(index: usize, bin: &Path, env: Vec<(String, String)>, logs: &Path) -> Node {
        Node {
            index,
            port: free_port(),
            bin: bin.to_owned(),
            env,
            log: logs.join(format!("node-{index}.log")),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process and waits until its port answers.
    pub fn start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "node {} is already running", self.index);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("open {}: {e}", self.log.display()))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .env("DAYLIGHT_LISTEN", format!("127.0.0.1:{}", self.port))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        if wait_for_port(self.port, Duration::from_secs(30)) {
            Ok(())
        } else {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            self.kill();
            Err(format!(
                "node {} did not listen on {} within 30 s (exit: {exited:?}); see {}",
                self.index,
                self.port,
                self.log.display()
            ))
        }
    }

    /// SIGKILL: no goodbye to the SDKs, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGINT (what `daylight serve` stops on) and a wait of at most
    /// `within`; false (and a SIGKILL) when it did not exit in time.
    pub fn interrupt(&mut self, within: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A throwaway `redis-server` on a free port (never the shared one).
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn new() -> Redis {
        Redis {
            port: free_port(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn start(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start redis-server: {e}"))?;
        self.child = Some(child);
        if wait_for_port(self.port, Duration::from_secs(10)) {
            Ok(())
        } else {
            self.stop();
            Err(format!("redis-server did not listen on {}", self.port))
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Default for Redis {
    fn default() -> Self {
        Redis::new()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh database on the shared PostgreSQL, dropped on drop.
pub struct Database {
    admin_url: String,
    pub name: String,
    pub url: String,
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .map_err(|e| format!("run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Database {
    /// `base` is a URL ending in `/DB` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
    pub fn create(base: &str) -> Result<Database, String> {
        let name = format!("chaos_{:016x}", rand::random::<u64>());
        psql(base, &format!("CREATE DATABASE {name}"))?;
        let (prefix, _) = base
            .rsplit_once('/')
            .ok_or_else(|| format!("{base} does not end with /DATABASE"))?;
        Ok(Database {
            admin_url: base.to_owned(),
            url: format!("{prefix}/{name}"),
            name,
        })
    }

    /// One value read straight from the database (not through a node).
    pub fn query(&self, sql: &str) -> Result<String, String> {
        psql(&self.url, sql)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}
