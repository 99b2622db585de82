//! Redis URLs with ACL credentials and TLS (`rediss://`), through the real CLI.

use std::process::{Command, Output};

use fleet_tests::{RedisServer, bin, free_port};

fn controller(url: &str, args: &[&str]) -> Output {
    Command::new(bin("fleet-controller"))
        .args(args)
        .env("FLEET_REDIS_URL", url)
        .output()
        .unwrap()
}

#[test]
fn an_acl_user_with_a_password_in_the_url_can_drive_the_fleet() {
    let redis = RedisServer::start_custom(
        false,
        &[
            "--user",
            "fleet",
            "on",
            ">s3cret-pw",
            "~fleet:*",
            "&*",
            "+@all",
        ],
        None,
    );
    let url = format!("redis://fleet:s3cret-pw@127.0.0.1:{}", redis.port());
    let out = controller(
        &url,
        &[
            "enqueue",
            "--type",
            "docs",
            "--repo",
            "/srv/r.git",
            "--prompt",
            "hello",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let wrong = format!("redis://fleet:nope@127.0.0.1:{}", redis.port());
    let out = controller(&wrong, &["queues"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !err.contains("nope"),
        "the password is never printed: {err}"
    );
}

#[test]
fn a_rediss_url_connects_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let tls_port = free_port();
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let tls_port_arg = tls_port.to_string();
    let redis = RedisServer::start_custom(
        false,
        &[
            "--tls-port",
            &tls_port_arg,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &cert,
            "--tls-auth-clients",
            "no",
        ],
        None,
    );
    // The certificate is self-signed, so the client is told not to verify it (#insecure);
    // with a certificate from a public CA the plain rediss:// URL verifies it.
    let url = format!("rediss://127.0.0.1:{tls_port}/#insecure");
    let out = controller(
        &url,
        &[
            "enqueue",
            "--type",
            "docs",
            "--repo",
            "/srv/r.git",
            "--prompt",
            "over tls",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = controller(&redis.url(), &["--json", "queues"]);
    let depths: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(
        depths["ready"]["docs"]["default"], 1,
        "the TLS client wrote to the same server"
    );
}
