//! The edge over real sockets: deadlines, refusals, the connection cap, TLS with ALPN and
//! reload, h2c, and the drain.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{serve, Drain, Listener, Refusal, RequestHead, ServeOptions, TlsFiles, TlsServer};

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<io::Result<()>>,
}

impl Server {
    async fn start(options: ServeOptions, tls: Option<TlsServer>) -> Server {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = match tls {
            Some(tls) => Listener::tls(tcp, tls),
            None => Listener::plain(tcp),
        };
        let drain = options.drain.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(serve(
            [listener],
            move |request| answer(request, drain.clone()),
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        Server {
            addr,
            stop: Some(stop),
            done,
        }
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `/drop` closes the connection, `/slow` answers after 200 ms, `/until-deadline` answers
/// when the drain's deadline fires, `/forever` never answers; anything else reads the body.
async fn answer(request: Request<Body>, drain: Drain) -> Result<Response<Body>, io::Error> {
    let text = |status: StatusCode, text: String| {
        let mut r = Response::new(Body::from(text));
        *r.status_mut() = status;
        r
    };
    match request.uri().path() {
        "/drop" => Err(io::Error::other("dropped on purpose")),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(text(StatusCode::OK, "slow".into()))
        }
        "/until-deadline" => {
            drain.deadline().await;
            Ok(text(StatusCode::OK, "ended at the deadline".into()))
        }
        "/forever" => std::future::pending().await,
        _ => match axum::body::to_bytes(request.into_body(), usize::MAX).await {
            Ok(body) => Ok(text(StatusCode::OK, format!("got {} bytes", body.len()))),
            Err(e) => Ok(text(StatusCode::BAD_REQUEST, e.to_string())),
        },
    }
}

fn custom_refusal(refusal: &Refusal, head: &RequestHead) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("refused {} {}", refusal.reason(), head.uri.path())));
    *r.status_mut() = StatusCode::IM_A_TEAPOT; // the edge sets the refusal's own status
    r
}

fn options() -> ServeOptions {
    ServeOptions {
        refuse: Arc::new(custom_refusal),
        ..ServeOptions::default()
    }
}

/// Reads until the peer closes (true) or `wait` passes (false).
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response whose body is `Content-Length` long (enough for these tests).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn an_oversize_content_length_is_refused_before_any_100_continue() {
    let server = Server::start(options(), None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /model/x/converse HTTP/1.1\r\nhost: x\r\ncontent-length: 31457280\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(text.ends_with("refused body_too_large /model/x/converse"), "{text}");
    assert!(closed, "the connection closes after the refusal");
}

#[tokio::test]
async fn an_oversize_body_sent_without_expect_is_refused_and_the_client_reads_the_answer() {
    let options = ServeOptions {
        max_body_bytes: 1024,
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 200000\r\n\r\n")
        .await
        .unwrap();
    // The client keeps sending; the edge reads and drops it rather than resetting the socket.
    s.write_all(&vec![b'a'; 200_000]).await.unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_fails_the_read_and_is_answered_413() {
    let options = ServeOptions {
        max_body_bytes: 10,
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /p HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n14\r\naaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let (text, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.ends_with("refused body_too_large /p"), "{text}");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_at_its_deadline_and_the_connection_closed() {
    let options = ServeOptions {
        body_timeout: Duration::from_millis(300),
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let sent = Instant::now();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.ends_with("refused body_timeout /v1/chat/completions"), "{text}");
    assert!(closed, "a stalled-body socket is not held");
    assert!(sent.elapsed() >= Duration::from_millis(300));
    // A body that arrives in time is read as usual.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let text = read_response(&mut s).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("got 5 bytes"),
        "{text}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_after_the_idle_timeout_not_the_header_timeout() {
    let options = ServeOptions {
        header_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(800),
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout: still open.
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let idle_since = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && text.is_empty(), "{text}");
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(750) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
}

#[tokio::test]
async fn a_slow_head_and_a_silent_connection_are_closed_after_the_header_timeout() {
    let options = ServeOptions {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(30),
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(GET).await.unwrap();
    assert!(read_response(&mut slow).await.starts_with("HTTP/1.1 200"));
    slow.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
    let began = Instant::now();
    assert!(read_until_closed(&mut slow, Duration::from_secs(5)).await.1);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "closed by the header timeout, not the idle one"
    );
    assert!(read_until_closed(&mut silent, Duration::from_secs(5)).await.1);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_when_accepted() {
    let options = ServeOptions {
        max_connections: 2,
        ..options()
    };
    let server = Server::start(options, None).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(GET).await.unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let _ = over.write_all(GET).await;
    let (text, closed) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert!(closed && text.is_empty(), "{text}");
    drop(held.pop());
    // The freed place is taken by the next connection (once the server saw the close).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let _ = s.write_all(GET).await;
        let (text, _) = read_until_closed(&mut s, Duration::from_millis(300)).await;
        if text.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed");
    }
}

#[tokio::test]
async fn a_handler_error_closes_the_connection_without_an_answer() {
    let server = Server::start(options(), None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /drop HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && text.is_empty(), "{text}");
}

#[tokio::test]
async fn the_plain_port_speaks_http2_with_prior_knowledge() {
    let server = Server::start(options(), None).await;
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let r = client.get(format!("http://{}/", server.addr)).send().await.unwrap();
    assert_eq!((r.status(), r.version()), (StatusCode::OK, Version::HTTP_2));
    let r = reqwest::get(format!("http://{}/", server.addr)).await.unwrap();
    assert_eq!((r.status(), r.version()), (StatusCode::OK, Version::HTTP_11));
}

#[tokio::test]
async fn a_preface_sent_in_pieces_is_still_http2() {
    let server = Server::start(options(), None).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // The first bytes could still be either HTTP: the connection waits for the rest.
    s.write_all(b"PRI * HTTP/2").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b".0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // An empty SETTINGS frame: the server answers with its own SETTINGS.
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let mut frame_head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut frame_head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame_head[3], 4, "a SETTINGS frame: {frame_head:?}");
    // And a head sent a byte at a time is HTTP/1.1 from its first byte.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for byte in b"GET / HTTP/1.1\r\nhost: x\r\n\r\n" {
        s.write_all(&[*byte]).await.unwrap();
    }
    let text = read_response(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn http2_streams_get_the_body_deadline_too() {
    let options = ServeOptions {
        body_timeout: Duration::from_millis(300),
        ..options()
    };
    let server = Server::start(options, None).await;
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let stalled = futures_stalled_body();
    let r = client
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .body(stalled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), r.version()),
        (StatusCode::REQUEST_TIMEOUT, Version::HTTP_2)
    );
    assert!(
        r.headers().get("connection").is_none(),
        "no connection header on HTTP/2"
    );
    assert_eq!(r.text().await.unwrap(), "refused body_timeout /v1/chat/completions");
}

/// A request body that sends a few bytes and then never ends.
fn futures_stalled_body() -> reqwest::Body {
    use futures::StreamExt;
    let first = futures::stream::once(async { Ok::<_, io::Error>(bytes::Bytes::from_static(b"{\"partial\":")) });
    reqwest::Body::wrap_stream(first.chain(futures::stream::pending()))
}

fn self_signed(name: &str) -> (String, String, reqwest::Certificate) {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let pem = cert.cert.pem();
    let trusted = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    (pem, cert.signing_key.serialize_pem(), trusted)
}

fn tls_client(addr: SocketAddr, trusted: reqwest::Certificate, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([trusted])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(5));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_picks_h2_or_http1_by_alpn_and_new_handshakes_get_a_reloaded_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert_file: dir.path().join("cert.pem"),
        key_file: dir.path().join("key.pem"),
    };
    let (cert, key, first) = self_signed("localhost");
    std::fs::write(&files.cert_file, cert).unwrap();
    std::fs::write(&files.key_file, key).unwrap();
    let tls = TlsServer::from_files(files.clone()).unwrap();
    let options = ServeOptions {
        tls_reload_every: Duration::from_millis(50),
        ..options()
    };
    let server = Server::start(options, Some(tls)).await;
    let url = format!("https://localhost:{}/", server.addr.port());

    let r = tls_client(server.addr, first.clone(), false)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status(), r.version()), (StatusCode::OK, Version::HTTP_2));
    let r = tls_client(server.addr, first.clone(), true)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status(), r.version()), (StatusCode::OK, Version::HTTP_11));

    // A half-written replacement (a certificate whose key has not come yet) is not used.
    let (cert2, key2, second) = self_signed("localhost");
    std::fs::write(&files.cert_file, &cert2).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = tls_client(server.addr, first.clone(), false).get(&url).send().await;
    assert!(
        r.is_ok(),
        "the current certificate stays while the files do not fit: {r:?}"
    );

    std::fs::write(&files.key_file, &key2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tls_client(server.addr, second.clone(), false)
            .get(&url)
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tls_client(server.addr, first, false).get(&url).send().await.is_err());
}

#[tokio::test]
async fn a_drain_lets_requests_in_flight_finish_and_closes_the_port() {
    let mut server = Server::start(options(), None).await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(GET).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shut_down();
    let (text, closed) = read_until_closed(&mut busy, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("slow"), "{text}");
    assert!(closed, "a busy connection closes once its answer is sent");
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(5)).await.1,
        "idle connections close"
    );
    tokio::time::timeout(Duration::from_secs(5), &mut server.done)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err(), "the port is closed");
}

#[tokio::test]
async fn at_the_grace_the_deadline_fires_and_what_ignores_it_is_closed_by_force() {
    let drain = Drain::new();
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(300),
        drain: drain.clone(),
        ..options()
    };
    let mut server = Server::start(options, None).await;
    let mut polite = TcpStream::connect(server.addr).await.unwrap();
    let mut stubborn = TcpStream::connect(server.addr).await.unwrap();
    polite
        .write_all(b"GET /until-deadline HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    stubborn
        .write_all(b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!drain.is_draining());
    let began = Instant::now();
    server.shut_down();
    drain.started().await;
    let (text, _) = read_until_closed(&mut polite, Duration::from_secs(5)).await;
    assert!(text.ends_with("ended at the deadline"), "{text}");
    assert!(drain.is_past_deadline());
    let (text, closed) = read_until_closed(&mut stubborn, Duration::from_secs(10)).await;
    assert!(closed && text.is_empty(), "{text}");
    tokio::time::timeout(Duration::from_secs(5), &mut server.done)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let took = began.elapsed();
    let hard = Duration::from_millis(300) + crate::HARD_CLOSE_AFTER_DEADLINE;
    assert!(took >= hard && took < hard + Duration::from_secs(2), "{took:?}");
}
