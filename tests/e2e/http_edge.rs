//! The connection edge, seen from a raw HTTP/1.1 client: early refusals
//! keep (or honestly close) the connection as Go's net/http does, slow and
//! idle connections end, and every refusal is a `Status`.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::common::Server;
use crate::common::raw::Raw1;
use crate::common::users::start_with_users;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn admin_token(s: &Server) -> String {
    std::fs::read_to_string(s.data_dir.join("pki/admin.token"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_keep_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_users("http_keepalive", &dir, "tok-bob,bob,2\n", &[]);
    let admin = format!("Bearer {}", admin_token(&s));
    let (status, _) = s.curl(
        "POST",
        CMS,
        Some(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
                .to_string(),
        ),
    );
    assert_eq!(status, 201);

    let small = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"},
        "data": {"k": "v".repeat(1024)}})
    .to_string();
    // Just over the 3 MiB limit: what the server leaves unread is under
    // Go's 256 KiB, so the connection is kept.
    let over = vec![b'a'; 3 * 1024 * 1024 + 100 * 1024];
    let json_ct = ("Content-Type", "application/json");
    let mut c = Raw1::connect(&s).await;
    for i in 0..1000 {
        let (want, reply) = match i % 4 {
            0 => (
                401,
                c.send(
                    "POST",
                    CMS,
                    &[("Authorization", "Bearer nope"), json_ct],
                    small.as_bytes(),
                )
                .await,
            ),
            1 => (
                403,
                c.send(
                    "POST",
                    CMS,
                    &[("Authorization", "Bearer tok-bob"), json_ct],
                    small.as_bytes(),
                )
                .await,
            ),
            2 => (
                413,
                c.send("POST", CMS, &[("Authorization", &admin), json_ct], &over)
                    .await,
            ),
            _ => (
                200,
                c.send(
                    "GET",
                    &format!("{CMS}/x"),
                    &[("Authorization", &admin)],
                    b"",
                )
                .await,
            ),
        };
        let r = reply.unwrap_or_else(|e| panic!("request {i} (want {want}) failed: {e}"));
        assert_eq!(
            r.status,
            want,
            "request {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.closes(), "request {i} ({want}) closed the connection");
        let kind = if want == 200 { "ConfigMap" } else { "Status" };
        assert_eq!(r.json()["kind"], kind, "request {i}");
    }

    // Far more than 256 KiB left unread (the server reads a frame or so
    // past the limit): the server says it closes, and does. curl, which
    // reads the answer while still uploading as Go's client does, sees it.
    let body = dir.path().join("big.json");
    std::fs::write(&body, vec![b'a'; 16 * 1024 * 1024]).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "--cacert",
        ])
        .arg(s.data_dir.join("pki/ca.crt"))
        .args([
            "-H",
            &format!("Authorization: {admin}"),
            "-H",
            "Content-Type: application/json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("{}{CMS}", s.base_url()))
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains(" 413 "), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let mut c = Raw1::connect(&s).await;
    let r = c
        .send(
            "GET",
            &format!("{CMS}/x"),
            &[("Authorization", &admin)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    let s = Server::start_with(
        "http_timeouts",
        &[
            "--idle-connection-timeout=2s",
            "--request-header-timeout=2s",
        ],
    );
    let admin = format!("Bearer {}", admin_token(&s));
    let limit = Duration::from_secs(8);

    // TLS completed, then silence (the half-open client).
    let mut silent = Raw1::connect(&s).await;
    // Half a request head (slowloris).
    let mut slow = Raw1::connect(&s).await;
    slow.write(b"GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    // TCP, never a TLS handshake.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    // A watch that sees no event for longer than the idle timeout is in
    // flight, not idle, and must stay open.
    let mut watcher = Raw1::connect(&s).await;
    watcher
        .write(
            format!(
                "GET {CMS}?watch=true&timeoutSeconds=30 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {admin}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let watch_sent = Instant::now();

    let start = Instant::now();
    assert!(
        silent.closed_within(limit).await,
        "silent TLS connection kept open"
    );
    assert!(
        slow.closed_within(limit).await,
        "slow request head kept open"
    );
    let mut byte = [0u8; 1];
    let tcp_closed = tokio::time::timeout(limit, tcp.read(&mut byte)).await;
    assert!(
        matches!(tcp_closed, Ok(Ok(0)) | Ok(Err(_))),
        "a connection without TLS handshake was kept: {tcp_closed:?}"
    );
    // Each closed after the 2 s timeout, not at once.
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );

    // The watch outlives the idle timeout and still delivers. (What is
    // checked is that nothing happens for longer than the timeout, so
    // this waits out the timeout plus a margin: there is nothing to poll.)
    tokio::time::sleep_until((watch_sent + Duration::from_secs(3)).into()).await;
    let (status, _) = s.curl(
        "POST",
        CMS,
        Some(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}})
                .to_string(),
        ),
    );
    assert_eq!(status, 201);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"late\"") {
        assert!(Instant::now() < deadline, "watch delivered nothing: {seen}");
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(
            Duration::from_secs(10),
            watcher_read(&mut watcher, &mut chunk),
        )
        .await
        .expect("watch stalled")
        .expect("watch closed early");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }

    // The server serves on.
    let mut c = Raw1::connect(&s).await;
    let r = c.send("GET", "/readyz", &[], b"").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

async fn watcher_read(c: &mut Raw1, buf: &mut [u8]) -> std::io::Result<usize> {
    let n = c.read_some(buf).await?;
    if n == 0 {
        return Err(std::io::Error::other("closed"));
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_at_the_edge_are_statuses() {
    let s = Server::start("http_statuses");
    let admin = format!("Bearer {}", admin_token(&s));
    let mut c = Raw1::connect(&s).await;

    let r = c.send("POST", "/healthz", &[], b"{}").await.unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["reason"], "MethodNotAllowed");
    assert_eq!(
        r.json()["message"],
        "the server does not allow this method on the requested resource"
    );

    // kube ignores a doubled space and says so.
    let doubled = format!("Bearer  {}", admin_token(&s));
    let r = c
        .send("GET", CMS, &[("Authorization", &doubled)], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["reason"], "Unauthorized");
    assert_eq!(
        r.header("warning"),
        Some(
            "299 - \"the provided Authorization header contains extra space before the bearer token, and is ignored\""
        )
    );

    // kube decodes apiVersion/kind as strings first.
    let r = c
        .send(
            "POST",
            CMS,
            &[
                ("Authorization", &admin),
                ("Content-Type", "application/json"),
            ],
            br#"{"apiVersion":1,"kind":"ConfigMap","metadata":{"name":"n"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .apiVersion of type string ({\"apiVersion\":1,\"kind\":\"Config ...)"
    );

    // A patch must say what it is (kube: 415; a create without a type is
    // read as JSON, as kube does).
    let r = c
        .send(
            "PATCH",
            &format!("{CMS}/n"),
            &[("Authorization", &admin)],
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["reason"], "UnsupportedMediaType");
    let r = c
        .send(
            "POST",
            CMS,
            &[("Authorization", &admin)],
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"untyped"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);

    // A request head over 1 MiB: a Status, and the connection ends.
    let huge = "h".repeat(1100 * 1024);
    let r = c
        .send(
            "GET",
            CMS,
            &[("Authorization", &admin), ("X-Huge", &huge)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(
        r.json()["message"],
        "Request Header Fields Too Large: limit is 1048576"
    );
    assert!(r.closes());
}
