//! A private redis-server per test, on a free loopback port, killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server this test owns. Dropping it kills the server and removes its directory.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    aof: bool,
    /// Extra arguments (ACL users, TLS); `ready` then pings with `ping_url`.
    extra: Vec<String>,
    ping_url: Option<String>,
}

impl RedisServer {
    /// A throwaway server: no persistence.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server with the append-only file on, so that a restart keeps every acknowledged write.
    pub fn start_with_aof() -> Self {
        Self::start_with(true)
    }

    fn start_with(aof: bool) -> Self {
        Self::start_custom(aof, &[], None)
    }

    /// A server with extra arguments. `{port}` in them is replaced by the chosen port, and
    /// readiness is checked with `ping_url` (also with `{port}`) when the default cannot
    /// connect (auth, TLS).
    pub fn start_custom(aof: bool, extra: &[&str], ping_url: Option<&str>) -> Self {
        for _ in 0..20 {
            let port = free_port();
            let fill = |s: &str| s.replace("{port}", &port.to_string());
            let mut server = RedisServer {
                child: None,
                port,
                dir: tempfile::tempdir().expect("temp dir for redis"),
                aof,
                extra: extra.iter().map(|a| fill(a)).collect(),
                ping_url: ping_url.map(fill),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port (is redis-server installed?)");
    }

    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new(redis_binary());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--maxmemory-policy")
            .arg("noeviction")
            .arg("--appendonly")
            .arg(if self.aof { "yes" } else { "no" })
            .arg("--appendfsync")
            .arg("always")
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = cmd.spawn() else {
            return false;
        };
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(10))
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false; // exited: port taken, most likely
            }
            let up = match &self.ping_url {
                Some(url) => ping_url(url),
                None => ping(self.port),
            };
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// SIGKILLs the server: what a crash looks like to clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (AOF data comes back).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not come back on port {}",
            self.port
        );
    }

    /// A synchronous client for assertions.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to test redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(port: u16) -> bool {
    ping_url(&format!("redis://127.0.0.1:{port}"))
}

fn ping_url(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

fn redis_binary() -> String {
    std::env::var("FLEET_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}
