//! A headless Chromium driven over the W3C WebDriver protocol, for the dashboard's browser test.
//!
//! Debian's `chromium` and `chromium-driver` packages (scripts/deps.sh installs both):
//! [`Browser::start`] runs chromedriver on a free port and opens a session in a fresh profile;
//! every command is one JSON request to it. Dropping the [`Browser`] ends the session, which
//! closes Chromium, and kills chromedriver.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::free_port;

/// Debian's launcher script (package `chromium`), which sets the flags the distribution needs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Package `chromium-driver`: always the same version as the browser, as the two must match.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long [`Browser::wait_for`] waits. The dashboard reacts to an event within a fraction of
/// a second; its own fallback poll runs every 5 s, so this also tolerates one missed event.
pub const WAIT: Duration = Duration::from_secs(12);

/// Held while a browser starts. Two Chromiums starting at the same moment sometimes stall the
/// first page of one of them by 5 s (Chromium 156: its new tab's initial navigation waits);
/// starting them one after the other costs ~0.5 s each.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The W3C name of the key that holds an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A refusal from chromedriver (W3C `error` code and message), or a failed request.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The W3C error code, e.g. `stale element reference`; `transport` when no answer came.
    pub error: String,
    /// The first line of chromedriver's explanation.
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

impl WebDriverError {
    /// The element was replaced: the dashboard swaps its panels on every event.
    pub fn is_stale(&self) -> bool {
        self.error == "stale element reference"
    }
}

/// A reference to an element of the current page. It turns stale when the page replaces it.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A Chromium session. Dropping it closes the browser and stops chromedriver.
pub struct Browser {
    http: reqwest::Client,
    driver: Child,
    port: u16,
    session: String,
    // Deleted when the Browser drops, after `drop` has closed the Chromium that writes to it.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Panics, saying what to install, when either
    /// is missing: a browser test that skips itself would pass without testing anything.
    pub async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the dashboard's browser test needs Debian's `chromium` and \
                 `chromium-driver` packages (run scripts/deps.sh, or \
                 `apt-get install chromium chromium-driver`)"
            );
        }
        let _one_at_a_time = STARTING.lock().await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        // free_port() can race with another test taking the port; chromedriver then exits.
        for _ in 0..5 {
            let port = free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}"));
            if driver_ready(&http, port, &mut driver).await {
                let browser = Self::open_session(http, driver, port).await;
                // Returns once the new tab's own first page has loaded (chromedriver waits
                // for it), so that the next browser starts after this one has settled.
                browser.goto("about:blank").await;
                return browser;
            }
            let _ = driver.kill();
            let _ = driver.wait();
        }
        panic!("{CHROMEDRIVER} did not become ready on a free port within 20 s (tried 5 ports)");
    }

    async fn open_session(http: reqwest::Client, mut driver: Child, port: u16) -> Browser {
        let profile = tempfile::tempdir().expect("temp dir for the Chromium profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let url = format!("http://127.0.0.1:{port}/session");
        let session = match send(&http, Method::POST, &url, Some(capabilities)).await {
            Ok(value) => value["sessionId"].as_str().map(str::to_string),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver could not start {CHROMIUM}: {e}");
            }
        };
        Browser {
            http,
            driver,
            port,
            session: session.expect("a new session has an id"),
            _profile: profile,
        }
    }

    /// Sends one command of this session, e.g. `(POST, "/url", {"url": …})`.
    pub async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        send(&self.http, method, &url, body).await
    }

    async fn must(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let what = format!("{method} {path}");
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {what}: {e}"))
    }

    /// Loads `url` and returns once the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.must(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Resizes the window so that the page itself (the viewport) is `width`×`height`.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let rect = |w: u32, h: u32| Some(json!({"width": w, "height": h}));
        self.must(Method::POST, "/window/rect", rect(width, height))
            .await;
        let chrome = self
            .execute("return window.outerHeight - window.innerHeight", json!([]))
            .await
            .as_u64()
            .unwrap_or(0) as u32;
        self.must(Method::POST, "/window/rect", rect(width, height + chrome))
            .await;
    }

    /// Runs `script` as the body of a function called with `args` (a JSON array); returns
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.must(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching the CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let body = json!({"using": "css selector", "value": css});
        match self.command(Method::POST, "/element", Some(body)).await {
            Ok(value) => value[ELEMENT_KEY]
                .as_str()
                .map(|id| Element(id.to_string())),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("webdriver find {css}: {e}"),
        }
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let value = self
            .command(Method::GET, &format!("/element/{}/text", element.0), None)
            .await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The element's attribute `name`, `None` when it has none.
    pub async fn attribute(
        &self,
        element: &Element,
        name: &str,
    ) -> Result<Option<String>, WebDriverError> {
        let path = format!("/element/{}/attribute/{name}", element.0);
        let value = self.command(Method::GET, &path, None).await?;
        Ok(value.as_str().map(str::to_string))
    }

    /// Clicks the element as a user would (scrolled into view, refused if something covers it).
    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        let path = format!("/element/{}/click", element.0);
        self.command(Method::POST, &path, Some(json!({}))).await?;
        Ok(())
    }

    /// Attribute `name` of the first element matching `css`: `None` when no element matches
    /// (or it has no such attribute). Read in one script, so a panel swap cannot interleave.
    pub async fn attribute_of(&self, css: &str, name: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return e ? e.getAttribute(arguments[1]) : null;";
        let value = self.execute(script, json!([css, name])).await;
        value.as_str().map(str::to_string)
    }

    /// Rendered text of the first element matching `css`, `None` when none matches.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return e ? e.innerText : null;";
        let value = self.execute(script, json!([css])).await;
        value.as_str().map(str::to_string)
    }

    /// Clicks the first element matching `css` once it exists, trying again when the page
    /// replaced it between finding and clicking.
    pub async fn click_on(&self, css: &str) {
        self.wait_for(&format!("{css} to be clickable"), async || {
            let element = self.find(css).await?;
            match self.click(&element).await {
                Ok(()) => Some(()),
                Err(e) if e.is_stale() => None,
                Err(e) => panic!("webdriver click {css}: {e}"),
            }
        })
        .await
    }

    /// Polls `probe` until it returns a value, for at most [`WAIT`]; on timeout, panics with
    /// `what` and the text the page shows.
    pub async fn wait_for<T>(&self, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.text_of("body").await.unwrap_or_default();
                panic!("waited {WAIT:?} for {what}; the page shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Messages the page logged at level SEVERE (uncaught exceptions, `console.error`, failed
    /// loads) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .must(Method::POST, "/se/log", Some(json!({"type": "browser"})))
            .await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.must(Method::GET, "/screenshot", None).await;
        let png = value
            .as_str()
            .and_then(decode_base64)
            .expect("a screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session is what closes Chromium; killing chromedriver alone can leave the
        // browser running. Drop cannot await, so this one request uses a blocking socket.
        end_session(self.port, &self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn driver_ready(http: &reqwest::Client, port: u16, driver: &mut Child) -> bool {
    let url = format!("http://127.0.0.1:{port}/status");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = driver.try_wait() {
            return false; // exited: the port was taken, most likely
        }
        if let Ok(status) = send(http, Method::GET, &url, None).await
            && status["ready"] == true
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// One WebDriver request; returns the response's `value`, or its error.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let transport = |e: reqwest::Error| WebDriverError {
        error: "transport".into(),
        message: e.to_string(),
    };
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(transport)?;
    let ok = response.status().is_success();
    let mut reply: Value = response.json().await.map_err(transport)?;
    let value = reply["value"].take();
    if ok {
        return Ok(value);
    }
    // The message goes on with "(Session info: …)" and a stack trace; its first line says it.
    let message = value["message"].as_str().unwrap_or_default();
    Err(WebDriverError {
        error: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string(),
        message: message.lines().next().unwrap_or_default().to_string(),
    })
}

fn end_session(port: u16, session: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        // chromedriver answers once Chromium has quit, so the first bytes of the answer are
        // the signal. (It keeps the connection open despite `close`: no read_to_end.)
        let _ = stream.read(&mut [0; 512]);
    }
}

/// Decodes standard base64 (what WebDriver sends screenshots in); `None` on any other byte.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert_eq!(decode_base64("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(decode_base64("Zm9v!").is_none());
    }
}
