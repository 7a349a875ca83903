//! QUIC application codes of `annex-swarm/1` (`docs/spec/wire-v1.md`, "Errors and extension").

/// Codes for `RESET_STREAM` and `STOP_SENDING` on one request's stream.
pub mod stream {
    /// The requester no longer wants the answer (a lost race): not an error.
    pub const CANCELLED: u64 = 0;
    /// The stream broke the protocol.
    pub const PROTOCOL: u64 = 1;
    /// The responder answered before reading all of the request's data (an early refusal).
    pub const ANSWERED: u64 = 2;
}

/// Codes for closing a connection.
pub mod close {
    /// Normal close.
    pub const DONE: u64 = 0;
    /// A framing, decoding or sequence error.
    pub const PROTOCOL: u64 = 1;
    /// The Hello's protocol version is not spoken here.
    pub const VERSION: u64 = 2;
    /// The Hello names another swarm.
    pub const SWARM: u64 = 3;
    /// The dialer's key is not a member of the acceptor's swarm.
    pub const NOT_MEMBER: u64 = 4;
}
