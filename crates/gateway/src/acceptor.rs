//! `gapless acceptor`: a plain std-socket acceptor, one thread per connection, running every
//! configured session with the echo test application behind it.
//!
//! The first message on a connection picks the session by BeginString and CompIDs. A connection
//! for no configured session, or for a session that already has a live connection, is closed
//! without a reply. Each session, with its store, outlives its connections.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use gapless_codec::{Decoded, FieldSyntaxError, FrameError, Limits, Message, decode, tag};
use gapless_session::{Disposition, Event, Now, Session};

use crate::config::{Config, ConfigError, SessionSpec};
use crate::echo::EchoApp;
use gapless_store::AnyStore;

use gapless_runtime::{Clock, open_store};

/// Why the acceptor could not start.
#[derive(Debug)]
pub enum AcceptorError {
    Config(ConfigError),
    Store { session: String, error: String },
    Listen { address: String, error: io::Error },
}

impl std::fmt::Display for AcceptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptorError::Config(error) => write!(f, "configuration: {error}"),
            AcceptorError::Store { session, error } => {
                write!(f, "session {session}: cannot open store: {error}")
            }
            AcceptorError::Listen { address, error } => {
                write!(f, "cannot listen on {address}: {error}")
            }
        }
    }
}

impl std::error::Error for AcceptorError {}

/// One configured session and what persists across its connections.
#[derive(Debug)]
struct SessionSlot {
    begin_string: &'static [u8],
    /// Our SenderCompID: the peer's TargetCompID.
    sender_comp_id: Vec<u8>,
    /// Our TargetCompID: the peer's SenderCompID.
    target_comp_id: Vec<u8>,
    /// Set while a connection owns the session.
    connected: AtomicBool,
    state: Mutex<(Session<AnyStore>, EchoApp)>,
}

/// Clears the slot's connected flag when the connection ends, however it ends.
struct ConnectedGuard<'a>(&'a AtomicBool);

impl Drop for ConnectedGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How long a connection may take to send its first complete message.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read waits when the session has no timer armed.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Loads `config_path` and serves its sessions until the process is stopped.
pub fn run(config_path: &std::path::Path, port: Option<u16>) -> Result<(), AcceptorError> {
    let config = Config::load(config_path).map_err(AcceptorError::Config)?;
    let specs = config.sessions().map_err(AcceptorError::Config)?;
    if config
        .sessions
        .iter()
        .any(|s| s.tls.is_some() || s.username.is_some())
    {
        return Err(AcceptorError::Config(ConfigError::Invalid(
            "gapless acceptor (the conformance harness) has no TLS or credential checks; \
             use gapless run"
                .into(),
        )));
    }
    let slots: Vec<Arc<SessionSlot>> =
        specs.into_iter().map(open_slot).collect::<Result<_, _>>()?;
    let Some(acceptor) = &config.acceptor else {
        return Err(AcceptorError::Config(ConfigError::Invalid(
            "gapless acceptor needs an [acceptor] table with listen".into(),
        )));
    };
    let mut address = acceptor.listen.clone();
    if let Some(port) = port {
        let host = address
            .rsplit_once(':')
            .map_or("127.0.0.1", |(host, _)| host);
        address = format!("{host}:{port}");
    }
    let listener = TcpListener::bind(&address).map_err(|error| AcceptorError::Listen {
        address: address.clone(),
        error,
    })?;
    eprintln!(
        "gapless acceptor: listening on {address} for {} sessions",
        slots.len()
    );
    let clock = Clock::new();
    let slots = Arc::new(slots);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("gapless acceptor: accept failed: {error}");
                continue;
            }
        };
        let slots = Arc::clone(&slots);
        thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            if let Err(error) = serve(stream, &slots, clock) {
                eprintln!("gapless acceptor: connection {peer:?}: {error}");
            }
        });
    }
    Ok(())
}

fn open_slot(spec: SessionSpec) -> Result<Arc<SessionSlot>, AcceptorError> {
    let config = spec.config;
    let store = open_store(&spec.store).map_err(|error| AcceptorError::Store {
        session: format!("{}->{}", config.sender_comp_id, config.target_comp_id),
        error: error.to_string(),
    })?;
    let app = EchoApp::new(config.version);
    Ok(Arc::new(SessionSlot {
        begin_string: config.version.begin_string().as_bytes(),
        sender_comp_id: config.sender_comp_id.clone().into_bytes(),
        target_comp_id: config.target_comp_id.clone().into_bytes(),
        connected: AtomicBool::new(false),
        state: Mutex::new((Session::new(config, store), app)),
    }))
}

/// One connection: find its session from the first message, then run the session on it.
fn serve(mut stream: TcpStream, slots: &[Arc<SessionSlot>], mut clock: Clock) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let limits = Limits::default();
    let mut buffer = Vec::with_capacity(4096);
    stream.set_read_timeout(Some(FIRST_MESSAGE_TIMEOUT))?;
    let slot = loop {
        match decode(&buffer, &limits) {
            Decoded::Message(msg) => match find_slot(slots, &msg) {
                Some(slot) => break slot,
                None => return close(&stream),
            },
            // Garbage first: nothing to answer, as with an unacceptable Logon.
            Decoded::Garbled(_) => return close(&stream),
            Decoded::Incomplete => match read_some(&mut stream, &mut buffer) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(error) if is_timeout(&error) => return close(&stream),
                Err(error) => return Err(error),
            },
        }
    };
    // A session already connected keeps its connection; the newcomer gets nothing. A peer that
    // closed and reconnected at once may beat its old connection's thread to noticing the close,
    // so give that thread a moment first.
    if !claim(&slot.connected) {
        return close(&stream);
    }
    let _guard = ConnectedGuard(&slot.connected);
    let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
    let (session, app) = &mut *state;
    let result = run_connection(&mut stream, session, app, clock, buffer);
    if session.state() != gapless_session::State::Disconnected {
        session.handle_disconnect(clock.now());
    }
    result.and_then(|()| close(&stream))
}

/// How long a new connection waits for the session's previous connection to wind down.
const CLAIM_WAIT: Duration = Duration::from_millis(250);

/// Marks the session connected, waiting up to [`CLAIM_WAIT`] for its previous connection to end.
fn claim(connected: &AtomicBool) -> bool {
    let deadline = std::time::Instant::now() + CLAIM_WAIT;
    loop {
        if !connected.swap(true, Ordering::AcqRel) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn find_slot(slots: &[Arc<SessionSlot>], first: &Message<'_>) -> Option<Arc<SessionSlot>> {
    let sender = first.get(tag::SENDER_COMP_ID)?;
    let target = first.get(tag::TARGET_COMP_ID)?;
    slots
        .iter()
        .find(|slot| {
            slot.begin_string == first.begin_string()
                && slot.target_comp_id == sender
                && slot.sender_comp_id == target
        })
        .cloned()
}

/// Runs the session on a connection until either side ends it.
fn run_connection(
    stream: &mut TcpStream,
    session: &mut Session<AnyStore>,
    app: &mut EchoApp,
    mut clock: Clock,
    mut buffer: Vec<u8>,
) -> io::Result<()> {
    match stream.peer_addr() {
        Ok(peer) => session.handle_connect_from(clock.now(), peer),
        Err(_) => session.handle_connect(clock.now()),
    }
    if drain(stream, session, app, clock)? {
        return Ok(());
    }
    loop {
        // Handle every complete message in the buffer.
        let mut used = 0;
        let mut ended = false;
        while !ended {
            let now = clock.now();
            match decode(&buffer[used..], session.limits()) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    if session.handle_message(now, &msg) == Disposition::Deliver {
                        deliver(session, app, now, &msg);
                    }
                }
                Decoded::Garbled(garbled) => {
                    let garbled_bytes = &buffer[used..used + garbled.skip];
                    used += garbled.skip;
                    match garbled.error {
                        FrameError::FieldSyntax(FieldSyntaxError::InvalidTag { .. }) => {
                            session.handle_invalid_tag(now, garbled_bytes);
                        }
                        _ => session.handle_garbled(now, &garbled),
                    }
                }
                Decoded::Incomplete => break,
            }
            ended = drain(stream, session, app, clock)?;
        }
        buffer.drain(..used);
        if ended {
            return Ok(());
        }
        // Wait for bytes or the session's next deadline.
        let now = clock.now();
        let wait = session
            .poll_timeout()
            .map_or(IDLE_READ_TIMEOUT, |deadline| {
                deadline.saturating_since(now.instant)
            });
        if wait.is_zero() {
            session.handle_timeout(now);
            if drain(stream, session, app, clock)? {
                return Ok(());
            }
            continue;
        }
        stream.set_read_timeout(Some(wait))?;
        match read_some(stream, &mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(error) if is_timeout(&error) => {
                session.handle_timeout(clock.now());
                if drain(stream, session, app, clock)? {
                    return Ok(());
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Drains events (handing released messages to the application), then writes what the session
/// queued. Returns whether the session ended the connection.
fn drain(
    stream: &mut TcpStream,
    session: &mut Session<AnyStore>,
    app: &mut EchoApp,
    mut clock: Clock,
) -> io::Result<bool> {
    let mut ended = false;
    loop {
        let released = match session.poll_event() {
            None => break,
            Some(Event::Application { message, .. }) => message.to_vec(),
            Some(Event::LoggedOn { .. }) => {
                app.on_logon();
                continue;
            }
            Some(Event::Disconnect(_)) => {
                ended = true;
                continue;
            }
            Some(_) => continue,
        };
        if let Decoded::Message(msg) = decode(&released, session.limits()) {
            deliver(session, app, clock.now(), &msg);
        }
    }
    while let Some(bytes) = session.poll_transmit() {
        let written = bytes.len();
        stream.write_all(bytes)?;
        session.transmitted(written);
    }
    Ok(ended)
}

fn deliver(session: &mut Session<AnyStore>, app: &mut EchoApp, now: Now, msg: &Message<'_>) {
    if let Err(error) = app.on_message(session, now, msg) {
        eprintln!("gapless acceptor: cannot answer a message: {error}");
    }
}

fn read_some(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk)?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn close(stream: &TcpStream) -> io::Result<()> {
    match stream.shutdown(Shutdown::Both) {
        Err(error) if error.kind() != ErrorKind::NotConnected => Err(error),
        _ => Ok(()),
    }
}
