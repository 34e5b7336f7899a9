//! Loopback ports.

/// A loopback port that was free a moment ago, for servers that cannot report the port they
/// chose (nginx, Caddy, nats-server, Postgres). Whatever can listen on port 0 should.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}
