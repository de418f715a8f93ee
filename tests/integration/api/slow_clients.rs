//! Slow clients: half a request header, or an idle keep-alive connection,
//! used to hold a socket forever (3,000 such sockets were all open 32 s
//! later). Now the header timeout closes them, a connection cap bounds how
//! many there can be, and `/healthz` keeps answering meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::{TestApp, spawn_app_with};

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
    let _heavy = crate::support::heavy().await;
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

/// At the cap, the oldest connection that never sent a request makes way
/// for a new client, long before the header timeout (30 s here) would free
/// its slot; connections that sent a request are not touched.
#[tokio::test(flavor = "multi_thread")]
async fn at_the_cap_the_oldest_silent_connection_makes_way() {
    let _heavy = crate::support::heavy().await;
    let app = spawn_app_with(true, |c| {
        c.server.header_timeout_secs = 30;
        c.server.max_connections = 4;
    })
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // One keep-alive connection that has been served: never evicted.
    let mut served = TcpStream::connect(&addr).await.unwrap();
    served
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = served.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_socket(&app).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut visitors = Vec::new();
    for round in 0..3 {
        // A new keep-alive connection each time, kept open, so that each
        // round finds the server at its cap.
        let started = Instant::now();
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\n\r\n")
            .await
            .unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        visitors.push(s);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "round {round}: served after {:?}",
            started.elapsed()
        );
    }
    // The three silent ones were closed, oldest first, by the new clients.
    for s in slow {
        closed_within(s, Duration::from_secs(5)).await;
    }
    // The served connection is still open and still answers.
    served
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\n\r\n")
        .await
        .unwrap();
    let n = served.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    app.stop().await;
}
