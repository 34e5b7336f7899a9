//! HTTP/2 frames written and read by hand over plain TCP (prior knowledge), for clients no
//! conforming library would be: streams past the peer's limit, resets in bulk, header blocks
//! that never end.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let bytes = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// What the server did, frame by frame, until the connection ended or went quiet.
#[derive(Debug)]
pub enum Event {
    Frame(Frame),
    Closed,
    Quiet,
}

pub struct H2Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn integer(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literal fields without indexing and without Huffman coding.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        integer(&mut out, 0x00, 7, name.len());
        out.extend_from_slice(name.as_bytes());
        integer(&mut out, 0x00, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The pseudo-headers of a request for `path`, then `extra`.
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
    ];
    fields.extend_from_slice(extra);
    header_block(&fields)
}

impl H2Conn {
    /// A connection that has sent the preface and an empty SETTINGS frame.
    pub async fn open(addr: SocketAddr) -> H2Conn {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|err| panic!("connect {addr}: {err}"));
        let mut conn = H2Conn {
            stream,
            buf: Vec::new(),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        conn.send(&hello)
            .await
            .unwrap_or_else(|err| panic!("preface: {err}"));
        conn
    }

    /// Writes `bytes`; an error (the server closed) is returned, not raised.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// The next frame (acknowledging the server's SETTINGS on the way), `Closed` at the end
    /// of the connection, or `Quiet` when nothing came within `quiet`.
    pub async fn next(&mut self, quiet: Duration) -> Event {
        loop {
            if self.buf.len() >= 9 {
                let len = usize::from(self.buf[0]) << 16
                    | usize::from(self.buf[1]) << 8
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let raw: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let frame = Frame {
                        kind: raw[3],
                        flags: raw[4],
                        stream: u32::from_be_bytes([raw[5], raw[6], raw[7], raw[8]]) & 0x7fff_ffff,
                        payload: raw[9..].to_vec(),
                    };
                    if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                        let _ = self.send(&self::frame(SETTINGS, ACK, 0, &[])).await;
                    }
                    return Event::Frame(frame);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(quiet, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Event::Closed,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Event::Quiet,
            }
        }
    }

    /// Reads frames until `wanted` matches one (returned) or the connection closes or goes
    /// quiet for `quiet` (`None`); `seen` collects every frame read.
    pub async fn until(
        &mut self,
        quiet: Duration,
        seen: &mut Vec<Frame>,
        wanted: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        loop {
            match self.next(quiet).await {
                Event::Frame(frame) => {
                    seen.push(frame.clone());
                    if wanted(&frame) {
                        return Some(frame);
                    }
                }
                Event::Closed | Event::Quiet => return None,
            }
        }
    }

    /// Reads and discards frames until the connection closes (true) or nothing came for
    /// `quiet` (false).
    pub async fn closed_within(&mut self, quiet: Duration) -> bool {
        loop {
            match self.next(quiet).await {
                Event::Frame(_) => {}
                Event::Closed => return true,
                Event::Quiet => return false,
            }
        }
    }
}
