//! A private redis-server per benchmark, on a free loopback port, killed when dropped; and the
//! figures read from it (`INFO cpu`, `INFO commandstats`) and from `redis-benchmark` against it.
//!
//! Never the machine's shared Redis on 6379: other people use it, and benchmarks flush.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A redis-server this benchmark owns. Dropping it kills the server and removes its directory.
pub struct PrivateRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// Starts a throwaway server (no persistence: `--save "" --appendonly no`, as the peers'
    /// benchmark runs it) on a free loopback port.
    pub fn start() -> anyhow::Result<Self> {
        let mut last = None;
        for _ in 0..20 {
            let port = free_port()?;
            let dir = tempfile::Builder::new()
                .prefix("fleet-bench-redis-")
                .tempdir()
                .context("temp dir for redis-server")?;
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .args(["--maxmemory-policy", "noeviction"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawn redis-server (is it installed?)")?;
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    return Ok(PrivateRedis {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection of the benchmark's own, for INFO and FLUSHALL (not the queue's).
    pub async fn probe(&self) -> anyhow::Result<Probe> {
        let client = redis::Client::open(self.url())?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .context("connect to the private redis-server")?;
        Ok(Probe { conn })
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(child: &mut Child, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("redis-server exited at once ({status}): port {port} taken?");
        }
        let ping = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if ping.is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("redis-server on port {port} did not answer within 10 s")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Reads the server's counters.
#[derive(Clone)]
pub struct Probe {
    conn: redis::aio::MultiplexedConnection,
}

/// The server's counters at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `used_cpu_sys + used_cpu_user`, seconds.
    pub cpu_s: f64,
    /// `INFO commandstats`: command name → calls, counting commands run inside scripts too.
    pub calls: BTreeMap<String, u64>,
    pub at: Option<Instant>,
}

/// What the server did between two snapshots.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    pub cpu_s: f64,
    pub wall_s: f64,
    /// Client-issued script calls (EVALSHA + EVAL).
    pub script_calls: u64,
    /// Every command, those inside scripts included, minus the script calls themselves and the
    /// probe's own INFO.
    pub commands: u64,
}

impl Delta {
    /// Redis CPU as percent of one core over the window.
    pub fn cpu_percent(&self) -> f64 {
        if self.wall_s > 0.0 {
            100.0 * self.cpu_s / self.wall_s
        } else {
            0.0
        }
    }
}

impl Probe {
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut conn = self.conn.clone();
        let cpu: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await?;
        let field = |name: &str| -> f64 {
            cpu.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let calls = stats
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_string(), calls))
            })
            .collect();
        Ok(Snapshot {
            cpu_s: field("used_cpu_sys") + field("used_cpu_user"),
            calls,
            at: Some(Instant::now()),
        })
    }

    /// Deletes everything on this (private) server.
    pub async fn flushall(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await?;
        Ok(())
    }
}

impl Snapshot {
    /// What happened from `self` to `later`.
    pub fn delta(&self, later: &Snapshot) -> Delta {
        let diff = |name: &str| {
            later
                .calls
                .get(name)
                .copied()
                .unwrap_or(0)
                .saturating_sub(self.calls.get(name).copied().unwrap_or(0))
        };
        let total: u64 = later.calls.keys().map(|k| diff(k)).sum();
        let scripts = diff("evalsha") + diff("eval");
        let wall_s = match (self.at, later.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        Delta {
            cpu_s: later.cpu_s - self.cpu_s,
            wall_s,
            script_calls: scripts,
            commands: total.saturating_sub(scripts + diff("info")),
        }
    }
}

/// One line of `redis-benchmark -q`: a test name and its requests per second.
#[derive(Debug, Clone)]
pub struct BaselineResult {
    pub args: String,
    pub test: String,
    pub rps: f64,
}

/// Runs `redis-benchmark -q -n <n> -t lpush,lpop [-P 16]` against the private server: the
/// machine's own speed, measured in the same run so figures normalise across machines.
pub fn redis_benchmark(port: u16, n: u64, pipeline: u32) -> anyhow::Result<Vec<BaselineResult>> {
    let mut args = vec![
        "-h".to_string(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-q".into(),
        "-n".into(),
        n.to_string(),
        "-t".into(),
        "lpush,lpop".into(),
    ];
    if pipeline > 1 {
        args.extend(["-P".to_string(), pipeline.to_string()]);
    }
    let out = Command::new("redis-benchmark")
        .args(&args)
        .output()
        .context("run redis-benchmark (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shown = format!("redis-benchmark {}", args[4..].join(" "));
    let text = String::from_utf8_lossy(&out.stdout);
    // -q prints progress lines separated by \r; the final figure is the last segment of a line.
    Ok(text
        .lines()
        .filter_map(|l| l.rsplit('\r').next())
        .filter_map(|l| {
            let (test, rest) = l.split_once(':')?;
            let rps = rest.split_whitespace().next()?.parse().ok()?;
            rest.contains("requests per second")
                .then(|| BaselineResult {
                    args: shown.clone(),
                    test: test.trim().to_string(),
                    rps,
                })
        })
        .collect())
}
