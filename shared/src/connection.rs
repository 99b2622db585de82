//! Connections to Redis.
//!
//! Two kinds, for two jobs:
//! - one shared multiplexed connection for every ordinary command. It pipelines concurrent
//!   requests from all tasks on one socket; taking a pooled connection per command would cost an
//!   extra round trip, because deadpool-redis pings each connection it hands out.
//! - a deadpool pool for commands that block (BLPOP on wake-up markers and answers): a blocked
//!   connection must not stall everyone else's commands.
//!
//! `rediss://` URLs use TLS (rustls, webpki roots); `redis://user:password@host` uses ACL auth.

use std::sync::Mutex;
use std::time::Duration;

use deadpool_redis::{Manager, Pool, Runtime};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use crate::error::ValidationError;

/// How long an ordinary command may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Blocking commands wait at most this long server-side, so their client timeout is above it.
pub const MAX_BLOCK: Duration = Duration::from_secs(5);

/// Something went wrong talking to Redis. Always worth retrying after a pause.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no Redis connection available: {0}")]
    Pool(String),
}

/// A handle on one Redis server. Cheap to clone.
#[derive(Clone)]
pub struct RedisHandle {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    url_for_display: String,
    shared_pool: Pool,
    blocking_pool: Pool,
    // Why a std Mutex: it is held only to clone or replace the handle, never across an await.
    shared: Mutex<Option<MultiplexedConnection>>,
}

impl RedisHandle {
    /// Prepares connections to `url`. Connects lazily: a Redis that is down now is not an error
    /// here, only when a command runs.
    pub fn open(url: &str) -> Result<Self, ValidationError> {
        let bad = |e: redis::RedisError| {
            ValidationError::new(
                "redis_url",
                redact_url(url),
                format!(
                    "is not a Redis URL ({e}); use redis://[user:password@]host:port[/db] or rediss://"
                ),
            )
        };
        let ordinary = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let blocking = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(MAX_BLOCK + RESPONSE_TIMEOUT));
        let build = |config: AsyncConnectionConfig, size: usize| {
            let manager = Manager::new_with_config(url, config).map_err(bad)?;
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .create_timeout(Some(CONNECT_TIMEOUT))
                .wait_timeout(Some(RESPONSE_TIMEOUT))
                .build()
                .map_err(|e| ValidationError::new("redis_url", redact_url(url), e.to_string()))
        };
        Ok(RedisHandle {
            inner: std::sync::Arc::new(Inner {
                url_for_display: redact_url(url),
                shared_pool: build(ordinary, 2)?,
                blocking_pool: build(blocking, 64)?,
                shared: Mutex::new(None),
            }),
        })
    }

    /// The URL with any password replaced by `***`, for logs and messages.
    pub fn display_url(&self) -> &str {
        &self.inner.url_for_display
    }

    /// The shared multiplexed connection, opened on first use and after a failure.
    pub async fn conn(&self) -> Result<MultiplexedConnection, ConnectionError> {
        if let Some(conn) = self.lock_shared().clone() {
            return Ok(conn);
        }
        let object = self.inner.shared_pool.get().await.map_err(pool_error)?;
        let conn = deadpool_redis::Connection::take(object);
        *self.lock_shared() = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the shared connection after an I/O error so the next command reconnects.
    pub fn reset_if_broken(&self, err: &redis::RedisError) {
        if err.is_io_error()
            || err.is_connection_dropped()
            || err.is_timeout()
            || err.is_unrecoverable_error()
        {
            *self.lock_shared() = None;
        }
    }

    /// A connection of its own for a blocking command; returned to the pool when dropped.
    pub async fn blocking_conn(&self) -> Result<deadpool_redis::Connection, ConnectionError> {
        self.inner.blocking_pool.get().await.map_err(pool_error)
    }

    /// Round trip to Redis, for health checks.
    pub async fn ping(&self) -> Result<(), ConnectionError> {
        let mut conn = self.conn().await?;
        let result: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                self.reset_if_broken(&e);
                Err(e.into())
            }
        }
    }

    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A poisoned lock only means another thread panicked while swapping a handle; the
        // Option inside is still a valid value.
        self.inner
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The pool's own wording ("Error occurred while creating a new object: ...") hides the cause;
/// surface Redis's error itself.
fn pool_error(e: deadpool_redis::PoolError) -> ConnectionError {
    match e {
        deadpool_redis::PoolError::Backend(redis) => ConnectionError::Redis(redis),
        deadpool_redis::PoolError::Timeout(_) => {
            ConnectionError::Pool("timed out connecting to Redis".into())
        }
        other => ConnectionError::Pool(other.to_string()),
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://***@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("redis://app:s3cret@host:6379/0"),
            "redis://app:***@host:6379/0"
        );
        assert_eq!(redact_url("rediss://s3cret@host"), "rediss://***@host");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn a_malformed_url_names_the_setting() {
        let err = RedisHandle::open("http://nope").err().unwrap();
        assert_eq!(err.field, "redis_url");
    }
}
