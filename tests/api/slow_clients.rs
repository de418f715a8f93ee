//! Slow clients: half a request header, or an idle keep-alive connection,
//! used to hold a socket forever (3,000 such sockets were all open 32 s
//! later). Now the header timeout closes them, a connection cap bounds how
//! many there can be, and `/healthz` keeps answering meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{TestApp, spawn_app_with};

async fn slow_socket(app: &TestApp) -> TcpStream {
    let addr = app.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\nX-Slow: ")
        .await
        .unwrap();
    s
}

/// Read until the server closes the socket; how long that took.
async fn closed_within(mut s: TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + bound),
            s.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept a slow socket open for {bound:?}"),
        }
    }
}

async fn healthz(app: &TestApp) {
    let r = app.get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn half_headers_are_cut_off_and_healthz_keeps_answering() {
    let app = spawn_app_with(true, |c| {
        c.server.header_timeout_secs = 1;
        c.server.max_connections = 64;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(slow_socket(&app).await);
    }
    for _ in 0..5 {
        healthz(&app).await;
    }
    let closing: Vec<_> = slow
        .into_iter()
        .map(|s| tokio::spawn(closed_within(s, Duration::from_secs(6))))
        .collect();
    for c in closing {
        c.await.unwrap();
    }
    healthz(&app).await;

    // An idle keep-alive connection is closed too.
    let addr = app.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    closed_within(s, Duration::from_secs(6)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_connection_cap_clients_wait_and_are_then_served() {
    let app = spawn_app_with(true, |c| {
        c.server.header_timeout_secs = 1;
        c.server.max_connections = 4;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(slow_socket(&app).await);
    }
    // The fifth connection waits in the backlog until the slow ones are cut
    // off, then it is served.
    let started = Instant::now();
    healthz(&app).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "served after {:?}",
        started.elapsed()
    );
    for s in slow {
        closed_within(s, Duration::from_secs(6)).await;
    }
    app.stop().await;
}
