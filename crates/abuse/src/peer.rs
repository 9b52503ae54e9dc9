//! A hostile FIX peer's connection: blocking std sockets with timeouts, messages encoded with
//! `gapless-codec`, and what the gateway sent back read as whole messages.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Encoder, Limits, StandardHeader, decode, tag};

/// Who the peer says it is: the CompIDs and version of one acceptor session of the gateway.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The peer's SenderCompID: the gateway session's `target_comp_id`.
    pub sender: String,
    /// The peer's TargetCompID: the gateway session's `sender_comp_id`.
    pub target: String,
    /// BeginString, such as `FIX.4.4`.
    pub begin_string: String,
}

/// How a connection ended, as seen from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The gateway closed it (end of stream or reset) this long after we started waiting.
    ClosedByGateway(Duration),
    /// Still open at the deadline.
    StillOpen,
}

/// Why a peer's exchange with the gateway failed.
#[derive(Debug)]
pub enum PeerError {
    /// Connecting, writing or reading failed.
    Io(io::Error),
    /// The gateway did not answer as expected in time; says what was awaited.
    NoAnswer(&'static str),
    /// The gateway closed the connection while we waited for `what`.
    Closed(&'static str),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::Io(error) => write!(f, "{error}"),
            PeerError::NoAnswer(what) => write!(f, "no {what} from the gateway in time"),
            PeerError::Closed(what) => write!(f, "the gateway closed while we waited for {what}"),
        }
    }
}

impl From<io::Error> for PeerError {
    fn from(error: io::Error) -> Self {
        PeerError::Io(error)
    }
}

/// The longest message the peer reads back; the gateway sends nothing near it.
const READ_LIMIT: usize = 1 << 20;

/// One connection to the gateway.
#[derive(Debug)]
pub struct Peer {
    stream: TcpStream,
    identity: Identity,
    next_seq: u64,
    inbox: Vec<u8>,
    closed: bool,
}

impl Peer {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, identity: &Identity, timeout: Duration) -> io::Result<Peer> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Peer::from_stream(stream, identity))
    }

    /// A peer over an already connected stream (one with socket options set beforehand).
    pub fn from_stream(stream: TcpStream, identity: &Identity) -> Peer {
        Peer {
            stream,
            identity: identity.clone(),
            next_seq: 1,
            inbox: Vec::new(),
            closed: false,
        }
    }

    /// The MsgSeqNum the next [`Peer::send`] stamps.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Makes the next message carry `seq`.
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes a message of `msg_type` with the standard header at the next MsgSeqNum and
    /// `body` (tag, value pairs), writes it, and returns its MsgSeqNum.
    pub fn send(&mut self, msg_type: &[u8], body: &[(u32, &[u8])]) -> io::Result<u64> {
        let bytes = self.encode(msg_type, body)?;
        self.stream.write_all(&bytes)?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        Ok(seq)
    }

    /// The bytes [`Peer::send`] would write, without writing them or using a MsgSeqNum.
    pub fn encode(&self, msg_type: &[u8], body: &[(u32, &[u8])]) -> io::Result<Vec<u8>> {
        encode(&self.identity, self.next_seq, msg_type, body)
    }

    /// Sends a Logon (ResetSeqNumFlag=Y, HeartBtInt `heartbeat`) and waits for the gateway's.
    pub fn logon(&mut self, heartbeat: u32, within: Duration) -> Result<(), PeerError> {
        self.next_seq = 1;
        let heartbeat = heartbeat.to_string();
        self.send(
            b"A",
            &[
                (tag::ENCRYPT_METHOD, b"0"),
                (tag::HEART_BT_INT, heartbeat.as_bytes()),
                (tag::RESET_SEQ_NUM_FLAG, b"Y"),
            ],
        )?;
        self.wait_for("Logon", within, |msg_type, _| msg_type == b"A")
    }

    /// Sends a TestRequest and waits for the Heartbeat that answers it: the session is alive
    /// and reading in step.
    pub fn probe(&mut self, within: Duration) -> Result<(), PeerError> {
        let id = format!("probe-{}", self.next_seq);
        self.send(b"1", &[(tag::TEST_REQ_ID, id.as_bytes())])?;
        self.wait_for(
            "Heartbeat answering a TestRequest",
            within,
            |msg_type, body| {
                msg_type == b"0" && contains_field(body, tag::TEST_REQ_ID, id.as_bytes())
            },
        )
    }

    /// Sends a Logout and waits, at most `within`, for the gateway to close.
    pub fn logout(&mut self, within: Duration) -> io::Result<Ending> {
        match self.send(b"5", &[]) {
            Ok(_) => {}
            Err(error) if is_closed(&error) => return Ok(Ending::ClosedByGateway(Duration::ZERO)),
            Err(error) => return Err(error),
        }
        self.wait_closed(within)
    }

    /// Reads and counts what the gateway sends until `matches` accepts a message (MsgType and
    /// the whole message), the gateway closes, or `within` passes.
    pub fn wait_for(
        &mut self,
        what: &'static str,
        within: Duration,
        mut matches: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), PeerError> {
        let deadline = Instant::now() + within;
        let mut found = false;
        while !found {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PeerError::NoAnswer(what));
            }
            if !self.read_some(left.min(Duration::from_millis(100)))? && self.closed {
                return Err(PeerError::Closed(what));
            }
            self.take_messages(|msg_type, bytes| found |= matches(msg_type, bytes));
        }
        Ok(())
    }

    /// Reads for at most `within` and hands every complete message to `each` (MsgType, bytes).
    /// Returns whether the connection is still open.
    pub fn drain(&mut self, within: Duration, each: impl FnMut(&[u8], &[u8])) -> io::Result<bool> {
        self.read_some(within)?;
        self.take_messages(each);
        Ok(!self.closed)
    }

    /// Reads and discards until the gateway closes or `within` passes.
    pub fn wait_closed(&mut self, within: Duration) -> io::Result<Ending> {
        let start = Instant::now();
        let deadline = start + within;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Ending::StillOpen);
            }
            self.read_some(left.min(Duration::from_millis(100)))?;
            self.take_messages(|_, _| {});
        }
        Ok(Ending::ClosedByGateway(start.elapsed()))
    }

    /// One read of at most `timeout`; returns whether bytes arrived. End of stream and resets
    /// mark the connection closed.
    fn read_some(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.closed = true;
                Ok(false)
            }
            Ok(n) => {
                self.inbox.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(false)
            }
            Err(error) if matches!(error.kind(), ErrorKind::Interrupted) => Ok(false),
            Err(error) if is_closed(&error) => {
                self.closed = true;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Hands every complete message in the inbox to `each` and drops what it used.
    fn take_messages(&mut self, mut each: impl FnMut(&[u8], &[u8])) {
        let limits = Limits {
            max_message_len: READ_LIMIT,
            ..Limits::default()
        };
        let mut used = 0;
        while used < self.inbox.len() {
            match decode(&self.inbox[used..], &limits) {
                Decoded::Incomplete => break,
                Decoded::Garbled(garbled) => used += garbled.skip,
                Decoded::Message(msg) => {
                    each(msg.msg_type(), msg.as_bytes());
                    used += msg.len();
                }
            }
        }
        self.inbox.drain(..used);
    }
}

/// A message from `identity` with MsgSeqNum `seq`, the current SendingTime and `body`.
pub fn encode(
    identity: &Identity,
    seq: u64,
    msg_type: &[u8],
    body: &[(u32, &[u8])],
) -> io::Result<Vec<u8>> {
    let size = 512 + body.iter().map(|(_, v)| v.len() + 12).sum::<usize>();
    let mut buf = vec![0u8; size];
    let header = StandardHeader::new(
        identity.sender.as_bytes(),
        identity.target.as_bytes(),
        seq,
        utc_now(),
        TimePrecision::Millis,
    );
    let mut encoder = Encoder::new(&mut buf, identity.begin_string.as_bytes(), msg_type);
    encoder.header(&header);
    for (tag, value) in body {
        encoder.field(*tag, value);
    }
    let message = encoder
        .finish()
        .map_err(|error| io::Error::new(ErrorKind::InvalidInput, error.to_string()))?;
    Ok(message.to_vec())
}

/// Whether an I/O error means the other side closed or reset the connection.
pub fn is_closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected
    )
}

/// Whether `message` holds the field `tag=value`.
pub fn contains_field(message: &[u8], tag: u32, value: &[u8]) -> bool {
    let mut needle = format!("\x01{tag}=").into_bytes();
    needle.extend_from_slice(value);
    needle.push(0x01);
    message.windows(needle.len()).any(|w| w == needle)
}

/// The current UTC time for SendingTime: the gateway checks it against its clock.
fn utc_now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    UtcTimestamp::from_unix_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_contains_field_needs_the_whole_field() {
        let message = b"8=FIX.4.4\x019=5\x0135=0\x01112=probe-12\x0110=000\x01";
        assert!(contains_field(message, 112, b"probe-12"));
        assert!(!contains_field(message, 112, b"probe-1"));
        assert!(!contains_field(message, 12, b"probe-12"));
    }
}
