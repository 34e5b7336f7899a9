//! Abusive HTTP/2 clients against both services: streams past `HTTP2_MAX_CONCURRENT_STREAMS`,
//! rapid reset (CVE-2023-44487), a header list past `MAX_HEADER_BYTES`, a header block that
//! never ends. Each asserts what the server does and that the service still answers, over
//! HTTP/1.1 and HTTP/2.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::hostile_http::Both;
use crate::raw_h2::{
    frame, request_block, Frame, H2Conn, CANCEL, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS,
    REFUSED_STREAM, RST_STREAM, SETTINGS,
};

const QUIET: Duration = Duration::from_secs(30);
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The `:status` at the start of a response header block: a static-table entry, or a literal
/// with the static name `:status` and a plain or Huffman-coded value (RFC 7541).
fn status(block: &[u8]) -> Option<u16> {
    const STATIC: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    let first = *block.first()?;
    if first & 0x80 != 0 {
        return STATIC
            .get(usize::from(first & 0x7f).checked_sub(8)?)
            .copied();
    }
    // A literal whose name is static entry 8 (`:status`), with or without indexing.
    if first != 0x48 && first != 0x08 && first != 0x18 {
        return None;
    }
    let head = *block.get(1)?;
    let len = usize::from(head & 0x7f);
    let value = block.get(2..2 + len)?;
    let text = if head & 0x80 == 0 {
        std::str::from_utf8(value).ok()?.to_owned()
    } else {
        huffman_digits(value)?
    };
    text.parse().ok()
}

/// Decodes a Huffman-coded string of digits: '0'-'2' are the 5-bit codes 0-2, '3'-'9' the
/// 6-bit codes 0x19-0x1f; the padding is fewer than 8 one bits.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut at = 0;
    loop {
        let rest = &bits[at..];
        if rest.len() < 8 && rest.iter().all(|&b| b == 1) {
            return Some(out);
        }
        let code = |n: usize| -> Option<u8> {
            rest.get(..n)
                .map(|b| b.iter().fold(0u8, |acc, bit| acc << 1 | bit))
        };
        match code(5)? {
            c @ 0..=2 => {
                out.push(char::from(b'0' + c));
                at += 5;
            }
            _ => match code(6)? {
                c @ 0x19..=0x1f => {
                    out.push(char::from(b'3' + c - 0x19));
                    at += 6;
                }
                _ => return None,
            },
        }
    }
}

/// `GET path` over HTTP/2 on a fresh connection, with the `h2` crate: the status.
async fn h2_get(addr: SocketAddr, path: &str) -> Option<u16> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (client, connection) = h2::client::handshake(tcp).await.ok()?;
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.ok()?;
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(())
        .ok()?;
    let (response, _) = client.send_request(request, true).ok()?;
    let status = tokio::time::timeout(QUIET, response)
        .await
        .ok()?
        .ok()?
        .status()
        .as_u16();
    driver.abort();
    Some(status)
}

/// Both services answer `/health` over HTTP/1.1 and over HTTP/2.
async fn assert_both_healthy(both: &Both) {
    both.assert_healthy().await;
    for (service, addr) in both.targets() {
        assert_eq!(
            h2_get(addr, "/health").await,
            Some(200),
            "{service} over h2"
        );
    }
}

/// Reads up to the server's first SETTINGS frame (acknowledging it), so that its limits are
/// known to be in force.
async fn settled(addr: SocketAddr, service: &str) -> H2Conn {
    let mut conn = H2Conn::open(addr).await;
    let mut seen = Vec::new();
    let settings = conn
        .until(QUIET, &mut seen, |f| f.kind == SETTINGS && f.flags == 0)
        .await;
    assert!(settings.is_some(), "{service}: no SETTINGS: {seen:?}");
    conn
}

fn on_stream(stream: u32) -> impl Fn(&Frame) -> bool {
    move |f| f.stream == stream && (f.kind == HEADERS || f.kind == RST_STREAM)
}

/// hyper refuses a stream past the limit with RST_STREAM(REFUSED_STREAM) (it does not queue
/// it), and the streams in flight complete and new ones open once they do. Fails if the limit
/// is not applied (stream 5 is answered) or if hitting it breaks the connection.
#[tokio::test]
async fn a_stream_past_http2_max_concurrent_streams_is_refused_and_the_connection_goes_on() {
    let both = Both::start(&[
        ("HTTP2_MAX_CONCURRENT_STREAMS", "2"),
        ("BODY_READ_TIMEOUT_SECONDS", "60"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    for (service, addr) in both.targets() {
        let mut conn = settled(addr, service).await;
        let mut seen = Vec::new();
        // Two streams held open: their request bodies have not come yet.
        let post = request_block(
            "POST",
            "/api/v1/auth/validate-token",
            &[("content-type", "application/json")],
        );
        for stream in [1, 3] {
            conn.send(&frame(HEADERS, END_HEADERS, stream, &post))
                .await
                .unwrap_or_else(|err| panic!("{service}: {err}"));
        }
        let get = request_block("GET", "/health/live", &[]);
        conn.send(&frame(HEADERS, END_HEADERS | END_STREAM, 5, &get))
            .await
            .unwrap_or_else(|err| panic!("{service}: {err}"));
        let third = conn.until(QUIET, &mut seen, on_stream(5)).await;
        let third = third.unwrap_or_else(|| panic!("{service}: nothing for stream 5: {seen:?}"));
        assert_eq!(
            (third.kind, third.error_code()),
            (RST_STREAM, Some(REFUSED_STREAM)),
            "{service}: {seen:?}"
        );

        // The held streams still complete: a bad token is 401.
        for stream in [1, 3] {
            conn.send(&frame(DATA, END_STREAM, stream, br#"{"token":"x.y.z"}"#))
                .await
                .unwrap_or_else(|err| panic!("{service}: {err}"));
            let answer = conn.until(QUIET, &mut seen, on_stream(stream)).await;
            let answer = answer.unwrap_or_else(|| panic!("{service}: stream {stream}: {seen:?}"));
            assert_eq!(answer.kind, HEADERS, "{service}: {seen:?}");
            // The second 401 names the status through the dynamic table: not decoded here.
            if stream == 1 {
                assert_eq!(status(&answer.payload), Some(401), "{service}: {answer:?}");
            }
        }
        // And the connection takes new streams.
        conn.send(&frame(HEADERS, END_HEADERS | END_STREAM, 7, &get))
            .await
            .unwrap_or_else(|err| panic!("{service}: {err}"));
        let answer = conn.until(QUIET, &mut seen, on_stream(7)).await;
        let answer = answer.unwrap_or_else(|| panic!("{service}: stream 7: {seen:?}"));
        assert_eq!(status(&answer.payload), Some(200), "{service}: {answer:?}");
        assert!(
            !seen.iter().any(|f| f.kind == GOAWAY),
            "{service}: {seen:?}"
        );
    }
    assert_both_healthy(&both).await;
}

/// Rapid reset: 2,000 streams opened and cancelled at once on one connection. hyper (h2's
/// `max_pending_accept_reset_streams`, set to 20) ends that connection with
/// GOAWAY(ENHANCE_YOUR_CALM) and closes it; the service keeps serving everyone else. Fails if
/// the limit is lifted (the connection would take all 2,000 and stay open) or if the flood
/// takes the service down.
#[tokio::test]
async fn rapid_reset_ends_the_abusive_connection_and_the_service_stays_healthy() {
    let both = Both::start(&[("KEEP_ALIVE_TIMEOUT_SECONDS", "60")]).await;
    for (service, addr) in both.targets() {
        let mut conn = settled(addr, service).await;
        let get = request_block("GET", "/health/live", &[]);
        let mut flood = Vec::new();
        for n in 0..2000u32 {
            let stream = 2 * n + 1;
            flood.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream, &get));
            flood.extend(frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes()));
        }
        // The server may close before it has read everything: a failed write is expected.
        let _ = conn.send(&flood).await;

        let mut seen = Vec::new();
        let goaway = conn.until(QUIET, &mut seen, |f| f.kind == GOAWAY).await;
        let goaway = goaway.unwrap_or_else(|| {
            panic!(
                "{service}: no GOAWAY after the flood ({} frames seen)",
                seen.len()
            )
        });
        assert_eq!(
            goaway.error_code(),
            Some(ENHANCE_YOUR_CALM),
            "{service}: {goaway:?}"
        );
        assert!(
            conn.closed_within(QUIET).await,
            "{service}: the abusive connection stayed open"
        );
        let answered = seen.iter().filter(|f| f.kind == HEADERS).count();
        assert!(answered < 2000, "{service}: all {answered} streams served");
    }
    assert_both_healthy(&both).await;
}

/// A header list past `MAX_HEADER_BYTES` (8 KiB here) in one HEADERS frame: hyper answers that
/// stream 431 (not a reset), the connection stays usable and so does the service. Fails if the cap is not passed to hyper (the request would be served).
#[tokio::test]
async fn an_http2_header_list_past_max_header_bytes_is_refused() {
    let both = Both::start(&[("KEEP_ALIVE_TIMEOUT_SECONDS", "60")]).await;
    let big = "a".repeat(12 * 1024);
    for (service, addr) in both.targets() {
        let mut conn = settled(addr, service).await;
        let mut seen = Vec::new();
        let block = request_block("GET", "/health/live", &[("x-big", &big)]);
        conn.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
            .await
            .unwrap_or_else(|err| panic!("{service}: {err}"));
        let answer = conn.until(QUIET, &mut seen, on_stream(1)).await;
        let answer = answer.unwrap_or_else(|| panic!("{service}: nothing for stream 1: {seen:?}"));
        assert_eq!(
            (answer.kind, status(&answer.payload)),
            (HEADERS, Some(431)),
            "{service}: not refused: {answer:?}"
        );

        // The same connection still serves a request of ordinary size.
        let get = request_block("GET", "/health/live", &[]);
        conn.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get))
            .await
            .unwrap_or_else(|err| panic!("{service}: {err}"));
        let answer = conn.until(QUIET, &mut seen, on_stream(3)).await;
        let answer = answer.unwrap_or_else(|| panic!("{service}: stream 3: {seen:?}"));
        assert_eq!(status(&answer.payload), Some(200), "{service}: {answer:?}");
    }
    assert_both_healthy(&both).await;
}

/// A HEADERS frame without END_HEADERS and no CONTINUATION: docs/SECURITY.md promises that
/// such a connection is closed after the header timeout (before its first request) or the
/// keep-alive timeout (after one), whatever hyper's HTTP/2 server does on its own. Fails if
/// the service's idle timer does not cover HTTP/2 (the connection would stay open).
#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_after_the_timeout() {
    let both = Both::start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let unfinished = request_block("GET", "/health/live", &[("x-more", "to come")]);
    for (service, addr) in both.targets() {
        for request_first in [false, true] {
            let mut conn = settled(addr, service).await;
            let mut stream = 1;
            if request_first {
                let get = request_block("GET", "/health/live", &[]);
                conn.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get))
                    .await
                    .unwrap_or_else(|err| panic!("{service}: {err}"));
                let mut seen = Vec::new();
                let answer = conn.until(QUIET, &mut seen, on_stream(1)).await;
                let answer = answer.unwrap_or_else(|| panic!("{service}: {seen:?}"));
                assert_eq!(status(&answer.payload), Some(200), "{service}");
                stream = 3;
            }
            let started = Instant::now();
            conn.send(&frame(HEADERS, END_STREAM, stream, &unfinished))
                .await
                .unwrap_or_else(|err| panic!("{service}: {err}"));
            assert!(
                conn.closed_within(QUIET).await,
                "{service} (request first: {request_first}): an unfinished header block held the connection"
            );
            assert!(
                started.elapsed() >= Duration::from_millis(800),
                "{service}: closed before the timeout"
            );
        }
    }
    assert_both_healthy(&both).await;
}
