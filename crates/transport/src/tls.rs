//! TLS over any backend: [`TlsTransport`] wraps a [`Transport`] and runs rustls (ring provider)
//! on the connections whose address was configured for TLS, exposing their plaintext through the
//! same `received()`/`consume()`/`send()` contract. Connections to or from other addresses pass
//! through untouched, so plaintext and TLS sessions share one transport.
//!
//! What it is: the buffered rustls connection per TLS connection, fed from the inner backend's
//! receive buffer and written into its send queue; certificate and key loading from PEM files
//! ([`TlsServerFiles`], [`TlsClientFiles`]).
//!
//! What it is not: zero-copy or allocation-free. The ciphertext is read in place, but rustls
//! copies records into its own buffers, and the plaintext is copied once more into the
//! connection's receive buffer so that a FIX message is contiguous for the parser. Whether rustls
//! allocates in the steady state is measured by `tests/tls_alloc.rs` (docs/configuration.md).
//!
//! Events: a TLS connection accepted on a TLS listener is reported at once (the runtime's
//! first-message timeout then covers a peer that never completes the handshake); an outgoing TLS
//! connection is reported [`Event::Connected`] only once the handshake has completed, so a
//! certificate that is refused never looks connected. A failed handshake, a peer that speaks
//! plaintext on a TLS port, or a corrupt record ends the connection with
//! [`CloseReason::Tls`] after rustls's alert is queued to the peer.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};

use crate::buffer::RecvBuffer;
use crate::{
    CloseReason, ConnId, Event, ListenerId, SendError, SetupError, Transport, TransportConfig,
};

/// Why a TLS connection ended, as far as the peer is told nothing more than an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// Bytes that are not TLS records: a peer speaking plaintext on a TLS port, or corruption.
    NotTls,
    /// The peer's certificate did not verify (unknown issuer, wrong name, expired, ...).
    CertificateRejected,
    /// Client certificates are required and the peer sent none.
    NoCertificate,
    /// The peer sent a fatal alert: it refused our certificate or our parameters.
    PeerAlert,
    /// The handshake did not complete within [`TlsSettings::handshake_timeout`].
    HandshakeTimeout,
    /// Any other handshake or record-layer error.
    Protocol,
}

impl TlsFailure {
    fn classify(error: &rustls::Error) -> TlsFailure {
        match error {
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => TlsFailure::NotTls,
            rustls::Error::InvalidCertificate(_) => TlsFailure::CertificateRejected,
            rustls::Error::NoCertificatesPresented => TlsFailure::NoCertificate,
            rustls::Error::AlertReceived(_) => TlsFailure::PeerAlert,
            _ => TlsFailure::Protocol,
        }
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read or holds nothing usable.
    Pem { path: PathBuf, error: String },
    /// `server_name` is neither a DNS name nor an IP address.
    ServerName(String),
    /// rustls refused the certificates, key or verifier.
    Rustls(rustls::Error),
    /// Two sessions on one address asked for different TLS settings.
    Conflict(SocketAddr),
}

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsConfigError::Pem { path, error } => write!(f, "{}: {error}", path.display()),
            TlsConfigError::ServerName(name) => write!(f, "invalid TLS server name {name:?}"),
            TlsConfigError::Rustls(error) => write!(f, "TLS configuration refused: {error}"),
            TlsConfigError::Conflict(addr) => {
                write!(
                    f,
                    "{addr}: sessions on one address need the same TLS settings"
                )
            }
        }
    }
}

impl std::error::Error for TlsConfigError {}

impl From<rustls::Error> for TlsConfigError {
    fn from(error: rustls::Error) -> Self {
        TlsConfigError::Rustls(error)
    }
}

/// An acceptor's TLS files: its certificate chain and key, and optionally the CA whose
/// certificates clients must present (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// An initiator's TLS files: the CA its peer's certificate must chain to, the name that
/// certificate must carry, and optionally our own certificate and key for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsClientFiles {
    pub ca: PathBuf,
    pub server_name: String,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(path: &Path, error: impl std::fmt::Display) -> TlsConfigError {
    TlsConfigError::Pem {
        path: path.to_path_buf(),
        error: error.to_string(),
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate"));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert)?;
    }
    Ok(Arc::new(roots))
}

impl TlsServerFiles {
    /// Loads the files into a rustls server configuration.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsConfigError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(load_roots(ca)?, provider())
                    .build()
                    .map_err(|e| TlsConfigError::Rustls(rustls::Error::General(e.to_string())))?,
            ),
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(load_certs(&self.cert)?, load_key(&self.key)?)?;
        Ok(Arc::new(config))
    }
}

impl TlsClientFiles {
    /// Loads the files into a rustls client configuration and the name to verify.
    pub fn load(&self) -> Result<TlsClient, TlsConfigError> {
        let server_name = ServerName::try_from(self.server_name.clone())
            .map_err(|_| TlsConfigError::ServerName(self.server_name.clone()))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(load_roots(&self.ca)?, provider())
                .build()
                .map_err(|e| TlsConfigError::Rustls(rustls::Error::General(e.to_string())))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_webpki_verifier(verifier);
        let config = match &self.client_cert {
            Some((cert, key)) => {
                builder.with_client_auth_cert(load_certs(cert)?, load_key(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// What an initiator's TLS connections use.
#[derive(Debug, Clone)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// Which addresses speak TLS: listening addresses with their server configuration, and peer
/// addresses with their client configuration. Everything else is plaintext.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    servers: Vec<(SocketAddr, Arc<ServerConfig>)>,
    clients: Vec<(SocketAddr, TlsClient)>,
    /// How long a connection may take from its start to a completed handshake (10 s by
    /// default): a peer that accepts TCP and never answers is closed, not waited on forever.
    pub handshake_timeout: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            servers: Vec::new(),
            clients: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsSettings {
    /// Whether no address uses TLS.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.clients.is_empty()
    }

    /// Listeners opened on `listen` (the address as given to [`Transport::listen`]) use TLS.
    /// A second entry for the same address must be the same configuration.
    pub fn add_server(
        &mut self,
        listen: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> Result<(), TlsConfigError> {
        match self.servers.iter().find(|(addr, _)| *addr == listen) {
            Some((_, existing)) if Arc::ptr_eq(existing, &config) => Ok(()),
            Some(_) => Err(TlsConfigError::Conflict(listen)),
            None => {
                self.servers.push((listen, config));
                Ok(())
            }
        }
    }

    /// Connections to `peer` use TLS. A second entry for the same address must be the same
    /// configuration.
    pub fn add_client(
        &mut self,
        peer: SocketAddr,
        client: TlsClient,
    ) -> Result<(), TlsConfigError> {
        match self.clients.iter().find(|(addr, _)| *addr == peer) {
            Some((_, existing))
                if Arc::ptr_eq(&existing.config, &client.config)
                    && existing.server_name == client.server_name =>
            {
                Ok(())
            }
            Some(_) => Err(TlsConfigError::Conflict(peer)),
            None => {
                self.clients.push((peer, client));
                Ok(())
            }
        }
    }
}

#[derive(Debug)]
struct TlsConn {
    tls: Connection,
    plain: RecvBuffer,
    reading: bool,
    /// The inner connection is established (always, for accepted ones).
    tcp_up: bool,
    /// An outgoing connection whose handshake has not yet been reported as `Connected`.
    announce: bool,
    /// `Closed` was reported; nothing more is read or written.
    ended: bool,
    /// When the handshake must have completed.
    handshake_deadline: Instant,
}

/// A [`Transport`] that runs TLS on the addresses [`TlsSettings`] names, over `T`.
#[derive(Debug)]
pub struct TlsTransport<T> {
    inner: T,
    config: TransportConfig,
    settings: TlsSettings,
    tls_listeners: Vec<(ListenerId, Arc<ServerConfig>)>,
    conns: HashMap<ConnId, TlsConn>,
    events: VecDeque<Event>,
}

impl<T: Transport> TlsTransport<T> {
    /// Wraps `inner`; `config` sizes the plaintext receive buffer and the TLS send limit of
    /// each TLS connection (as the inner backend's buffers are sized).
    pub fn new(inner: T, config: TransportConfig, settings: TlsSettings) -> Self {
        TlsTransport {
            inner,
            config,
            settings,
            tls_listeners: Vec::new(),
            conns: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    fn add_conn(&mut self, mut tls: Connection, tcp_up: bool) -> TlsConn {
        tls.set_buffer_limit(Some(self.config.send_buffer));
        TlsConn {
            tls,
            plain: RecvBuffer::new(self.config.recv_buffer),
            reading: true,
            tcp_up,
            announce: !tcp_up,
            ended: false,
            handshake_deadline: Instant::now() + self.settings.handshake_timeout,
        }
    }

    fn on_inner_event(&mut self, event: Event) {
        match event {
            Event::Accepted {
                listener,
                conn,
                peer,
            } => {
                let server = self.tls_listeners.iter().find(|(id, _)| *id == listener);
                if let Some((_, config)) = server {
                    match rustls::ServerConnection::new(config.clone()) {
                        Ok(tls) => {
                            let tls = self.add_conn(tls.into(), true);
                            self.conns.insert(conn, tls);
                        }
                        Err(_) => {
                            self.inner.close(conn);
                            return;
                        }
                    }
                }
                self.events.push_back(Event::Accepted {
                    listener,
                    conn,
                    peer,
                });
            }
            Event::Connected { conn } => match self.conns.get_mut(&conn) {
                // Reported once the handshake completes.
                Some(tls) => tls.tcp_up = true,
                None => self.events.push_back(Event::Connected { conn }),
            },
            Event::Closed { conn, reason } => match self.conns.get_mut(&conn) {
                Some(tls) => {
                    // Records that arrived before the close are still decrypted.
                    if !tls.ended {
                        pump(&mut self.inner, conn, tls, &mut self.events);
                    }
                    if !tls.ended {
                        tls.ended = true;
                        self.events.push_back(Event::Closed { conn, reason });
                    }
                }
                None => self.events.push_back(Event::Closed { conn, reason }),
            },
        }
    }
}

/// Writes TLS records into the inner backend's send queue.
struct InnerSink<'a, T> {
    inner: &'a mut T,
    conn: ConnId,
}

impl<T: Transport> Write for InnerSink<'_, T> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.inner.send(self.conn, bytes) {
            Ok(0) if !bytes.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            Ok(n) => Ok(n),
            Err(error) => Err(io::Error::new(io::ErrorKind::NotConnected, error)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Moves queued TLS records into the inner send queue while it has room.
fn flush_tls<T: Transport>(inner: &mut T, conn: ConnId, tls: &mut Connection) -> usize {
    let mut written = 0;
    while tls.wants_write() {
        match tls.write_tls(&mut InnerSink { inner, conn }) {
            Ok(n) if n > 0 => written += n,
            _ => break,
        }
    }
    written
}

/// Moves decrypted bytes into the plaintext buffer; whether the peer ended the TLS stream.
fn take_plaintext(c: &mut TlsConn) -> Result<usize, CloseReason> {
    let mut taken = 0;
    loop {
        c.plain.compact();
        let space = c.plain.free_space();
        if space.is_empty() {
            return Ok(taken);
        }
        match c.tls.reader().read(space) {
            Ok(0) => return Err(CloseReason::PeerClosed),
            Ok(n) => {
                c.plain.filled(n);
                taken += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
            Err(e) => return Err(CloseReason::Error(e.kind())),
        }
    }
}

/// Decrypts what the inner connection received, reports a completed handshake, and queues
/// what rustls has to send. Returns the work done.
fn pump<T: Transport>(
    inner: &mut T,
    conn: ConnId,
    c: &mut TlsConn,
    events: &mut VecDeque<Event>,
) -> usize {
    if c.ended {
        return 0;
    }
    // The clock is read only while a handshake is in progress.
    if c.tls.is_handshaking() && Instant::now() >= c.handshake_deadline {
        c.ended = true;
        events.push_back(Event::Closed {
            conn,
            reason: CloseReason::Tls(TlsFailure::HandshakeTimeout),
        });
        return 1;
    }
    if !c.tcp_up {
        return 0;
    }
    let mut work = flush_tls(inner, conn, &mut c.tls);
    let mut ended = None;
    // Each turn either consumes ciphertext or stops: bounded by the inner receive buffer.
    while c.reading {
        match take_plaintext(c) {
            Ok(n) => work += n,
            Err(reason) => {
                ended = Some(reason);
                break;
            }
        }
        let cipher = inner.received(conn);
        if cipher.is_empty() || c.plain.room() == 0 {
            break;
        }
        match c.tls.read_tls(&mut &cipher[..]) {
            Ok(n) if n > 0 => {
                inner.consume(conn, n);
                work += n;
            }
            // rustls holds as much undelivered plaintext as it takes.
            _ => break,
        }
        if let Err(error) = c.tls.process_new_packets() {
            ended = Some(CloseReason::Tls(TlsFailure::classify(&error)));
            break;
        }
        // Handshake replies go out as soon as they are made.
        work += flush_tls(inner, conn, &mut c.tls);
    }
    // The alert, if any, still goes out.
    work += flush_tls(inner, conn, &mut c.tls);
    if let Some(reason) = ended {
        c.ended = true;
        events.push_back(Event::Closed { conn, reason });
        return work + 1;
    }
    if c.announce && !c.tls.is_handshaking() {
        c.announce = false;
        events.push_back(Event::Connected { conn });
        work += 1;
    }
    work
}

impl<T: Transport> Transport for TlsTransport<T> {
    fn listen(&mut self, addr: SocketAddr) -> Result<(ListenerId, SocketAddr), SetupError> {
        let (id, bound) = self.inner.listen(addr)?;
        if let Some((_, config)) = self.settings.servers.iter().find(|(a, _)| *a == addr) {
            self.tls_listeners.push((id, config.clone()));
        }
        Ok((id, bound))
    }

    fn connect(&mut self, addr: SocketAddr) -> Result<ConnId, SetupError> {
        let client = self.settings.clients.iter().find(|(a, _)| *a == addr);
        let Some((_, client)) = client else {
            return self.inner.connect(addr);
        };
        let tls = ClientConnection::new(client.config.clone(), client.server_name.clone())
            .map_err(|e| SetupError::Io(io::Error::other(e)))?;
        let conn = self.inner.connect(addr)?;
        let tls = self.add_conn(tls.into(), false);
        self.conns.insert(conn, tls);
        Ok(conn)
    }

    fn poll(&mut self) -> usize {
        let mut work = self.inner.poll();
        while let Some(event) = self.inner.next_event() {
            self.on_inner_event(event);
        }
        for (conn, c) in self.conns.iter_mut() {
            work += pump(&mut self.inner, *conn, c, &mut self.events);
        }
        work
    }

    fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn received(&self, conn: ConnId) -> &[u8] {
        match self.conns.get(&conn) {
            Some(c) => c.plain.unread(),
            None => self.inner.received(conn),
        }
    }

    fn consume(&mut self, conn: ConnId, n: usize) {
        match self.conns.get_mut(&conn) {
            Some(c) => c.plain.consume(n),
            None => self.inner.consume(conn, n),
        }
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<usize, SendError> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return self.inner.send(conn, bytes);
        };
        if c.ended || c.announce {
            return Err(SendError::NotConnected);
        }
        // Bounded by the buffer limit: what does not fit is refused, as a full send queue.
        let taken = c.tls.writer().write(bytes).unwrap_or(0);
        flush_tls(&mut self.inner, conn, &mut c.tls);
        Ok(taken)
    }

    /// The inner queue's bytes, plus one while rustls holds records the queue had no room for
    /// (zero means everything reached the inner backend).
    fn unsent(&self, conn: ConnId) -> usize {
        let held = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.tls.wants_write() && !c.ended);
        self.inner.unsent(conn) + usize::from(held)
    }

    fn set_reading(&mut self, conn: ConnId, reading: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.reading = reading;
        }
        self.inner.set_reading(conn, reading);
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(mut c) = self.conns.remove(&conn)
            && !c.ended
            && c.tcp_up
        {
            c.tls.send_close_notify();
            flush_tls(&mut self.inner, conn, &mut c.tls);
        }
        self.inner.close(conn);
    }
}
