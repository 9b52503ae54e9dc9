//! `[gateway] transport = "dpdk"`: the gateway's sessions on kernel-bypass networking.
//!
//! What this is: the `[gateway.dpdk]` table ([`DpdkEntry`]: EAL arguments, port, MAC, IPv4
//! address and prefix, default router, mempool and ring sizes, timeouts), its checks
//! ([`plan`]), and, with the `dpdk` cargo feature, the run: [`run`] hands the runtime a closure
//! that starts the EAL, opens the port and builds `gapless-net-dpdk`'s userspace TCP transport on
//! the thread that will poll it (the network core in threaded mode), then runs the sessions on it
//! exactly as on kernel sockets.
//!
//! What it is not: DPDK itself. Without the feature the table still parses and is checked, so a
//! configuration can be validated anywhere, but `transport = "dpdk"` is refused with the rebuild
//! to do; the default build links no DPDK. One port, one receive and one transmit queue, IPv4
//! only: see `gapless-net-dpdk` and docs/kernel-bypass.md.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gapless_runtime::{RunError, RuntimeConfig};
use serde::Deserialize;

use crate::config::{ConfigError, GatewayEntry, TransportName};

/// `[gateway.dpdk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpdkEntry {
    /// EAL arguments, without the program name: `["--no-huge", "-m", "512", "--no-pci", "-l",
    /// "0", "--vdev=net_af_packet0,iface=veth0"]`, or `["-a", "0000:3b:00.0", "-l", "2"]`.
    pub eal: Vec<String>,
    /// The DPDK port id (vdevs and probed devices in the order the EAL created them).
    #[serde(default)]
    pub port: u16,
    /// Our IPv4 address and subnet, `10.77.0.2/24`.
    pub address: String,
    /// The router for addresses outside the subnet.
    pub gateway: Option<Ipv4Addr>,
    /// A MAC address to give the port, `02:00:00:00:00:01`; absent keeps the port's own.
    pub mac: Option<String>,
    /// Mbufs in the port's pool.
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// Receive ring descriptors.
    #[serde(default = "default_descriptors")]
    pub rx_descriptors: u16,
    /// Transmit ring descriptors.
    #[serde(default = "default_descriptors")]
    pub tx_descriptors: u16,
    /// Milliseconds to wait for the link at startup.
    #[serde(default = "default_link_timeout_ms")]
    pub link_timeout_ms: u64,
    /// Milliseconds a connect (ARP and handshake) may take.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Milliseconds a closed connection may take to deliver its last bytes and FIN.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
}

fn default_mbufs() -> u32 {
    8191
}
fn default_descriptors() -> u16 {
    1024
}
fn default_link_timeout_ms() -> u64 {
    5000
}
fn default_connect_timeout_ms() -> u64 {
    5000
}
fn default_linger_ms() -> u64 {
    1000
}

/// A checked `[gateway.dpdk]`: what [`run`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkPlan {
    /// The EAL command line, program name first.
    pub eal: Vec<String>,
    pub port: u16,
    pub mac: Option<[u8; 6]>,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mbufs: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    pub link_timeout: Duration,
    pub connect_timeout: Duration,
    pub linger: Duration,
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(format!("[gateway.dpdk]: {message}"))
}

/// `aa:bb:cc:dd:ee:ff`, unicast.
fn parse_mac(text: &str) -> Result<[u8; 6], ConfigError> {
    let bad = || {
        invalid(format!(
            "mac = {text:?} is not a MAC address like 02:00:00:00:00:01"
        ))
    };
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(invalid(format!("mac = {text:?} is multicast")));
    }
    Ok(mac)
}

/// `a.b.c.d/len`.
fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), ConfigError> {
    let bad = || {
        invalid(format!(
            "address = {text:?} is not an IPv4 address/prefix like 10.0.0.2/24"
        ))
    };
    let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((address, prefix))
}

fn in_subnet(address: Ipv4Addr, prefix_len: u8, other: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    u32::from(address) & mask == u32::from(other) & mask
}

impl DpdkEntry {
    /// Checks the table; every error names its key.
    pub fn plan(&self) -> Result<DpdkPlan, ConfigError> {
        let (address, prefix_len) = parse_cidr(&self.address)?;
        if let Some(gateway) = self.gateway
            && !in_subnet(address, prefix_len, gateway)
        {
            return Err(invalid(format!(
                "gateway = \"{gateway}\" is outside {}",
                self.address
            )));
        }
        let mac = self.mac.as_deref().map(parse_mac).transpose()?;
        if self.mbufs == 0 || self.rx_descriptors == 0 || self.tx_descriptors == 0 {
            return Err(invalid(
                "mbufs, rx_descriptors and tx_descriptors must be positive".into(),
            ));
        }
        if u64::from(self.mbufs) <= u64::from(self.rx_descriptors) + u64::from(self.tx_descriptors)
        {
            return Err(invalid(format!(
                "mbufs = {} cannot fill both rings ({} + {} descriptors) with frames to spare",
                self.mbufs, self.rx_descriptors, self.tx_descriptors
            )));
        }
        let mut eal = Vec::with_capacity(self.eal.len() + 1);
        eal.push("gapless".to_owned());
        eal.extend(self.eal.iter().cloned());
        Ok(DpdkPlan {
            eal,
            port: self.port,
            mac,
            address,
            prefix_len,
            gateway: self.gateway,
            mbufs: self.mbufs,
            rx_descriptors: self.rx_descriptors,
            tx_descriptors: self.tx_descriptors,
            link_timeout: Duration::from_millis(self.link_timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            linger: Duration::from_millis(self.linger_ms),
        })
    }
}

/// The DPDK plan of `[gateway]`, if its transport is `dpdk`. `transport = "dpdk"` without the
/// table, the table with another transport, and `dpdk` in a build without the feature are
/// errors.
pub fn plan(gateway: &GatewayEntry) -> Result<Option<DpdkPlan>, ConfigError> {
    match (gateway.transport, &gateway.dpdk) {
        (TransportName::Dpdk, None) => Err(ConfigError::Invalid(
            "[gateway] transport = \"dpdk\" needs a [gateway.dpdk] table".into(),
        )),
        (TransportName::Dpdk, Some(entry)) => {
            let plan = entry.plan()?;
            if cfg!(feature = "dpdk") {
                Ok(Some(plan))
            } else {
                Err(ConfigError::Invalid(
                    "[gateway] transport = \"dpdk\": this gapless is built without DPDK \
                     (rebuild with `cargo build --release -p gapless-gateway --features dpdk`)"
                        .into(),
                ))
            }
        }
        (other, Some(_)) => Err(ConfigError::Invalid(format!(
            "[gateway.dpdk] is set but [gateway] transport is {other:?}; set transport = \"dpdk\" \
             or remove the table"
        ))),
        (_, None) => Ok(None),
    }
}

/// Starts the EAL, opens the port and builds the userspace TCP stack on it.
#[cfg(feature = "dpdk")]
fn make_transport(
    plan: &DpdkPlan,
    transport: gapless_transport::TransportConfig,
) -> Result<gapless_net_dpdk::TcpTransport<gapless_net_dpdk::dpdk::DpdkDevice>, RunError> {
    use gapless_net_dpdk::dpdk::{DpdkDevice, Eal, Port, PortConfig};
    use gapless_net_dpdk::{StackConfig, TcpTransport};

    let error = |what: &str, error: &dyn std::fmt::Display| {
        RunError::Transport(std::io::Error::other(format!("DPDK {what}: {error}")))
    };
    let eal = Eal::init(&plan.eal).map_err(|e| error("EAL", &e))?;
    let port_config = PortConfig {
        port_id: plan.port,
        rx_descriptors: plan.rx_descriptors,
        tx_descriptors: plan.tx_descriptors,
        mbufs: plan.mbufs,
        link_timeout: plan.link_timeout,
        mac: plan.mac,
    };
    let port = Port::open(&eal, &port_config).map_err(|e| error("port", &e))?;
    let mac = port.mac();
    tracing::info!(
        port = port.id(),
        mac = %format_args!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        ),
        address = %plan.address,
        prefix_len = plan.prefix_len,
        "DPDK port up"
    );
    let stack = StackConfig {
        mac,
        address: plan.address,
        prefix_len: plan.prefix_len,
        gateway: plan.gateway,
        connect_timeout: plan.connect_timeout,
        linger: plan.linger,
        transport,
    };
    TcpTransport::new(DpdkDevice::new(port), stack).map_err(|e| error("stack", &e))
}

/// Runs `runtime`'s sessions over DPDK until `stop`, as `gapless_runtime::run` does over
/// kernel sockets. The EAL, the port and the stack are made on the polling thread.
#[cfg(feature = "dpdk")]
pub fn run(runtime: &RuntimeConfig, plan: DpdkPlan, stop: &AtomicBool) -> Result<(), RunError> {
    let transport = runtime.transport_config;
    gapless_runtime::run_with(runtime, move || make_transport(&plan, transport), stop)
}

/// Without the `dpdk` feature [`plan`] never returns a plan, so this is not reached; it refuses
/// rather than fall back to kernel sockets.
#[cfg(not(feature = "dpdk"))]
pub fn run(_: &RuntimeConfig, _: DpdkPlan, _: &AtomicBool) -> Result<(), RunError> {
    Err(RunError::Transport(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "this gapless is built without DPDK",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(extra: &str) -> Result<DpdkEntry, toml::de::Error> {
        toml::from_str(&format!(
            "eal = [\"--no-huge\", \"-l\", \"0\"]\naddress = \"10.77.0.2/24\"\n{extra}"
        ))
    }

    fn error_of(extra: &str) -> String {
        entry(extra).unwrap().plan().unwrap_err().to_string()
    }

    #[test]
    fn minimal_table_plans_with_defaults_and_program_name_first() {
        let plan = entry("").unwrap().plan().unwrap();
        assert_eq!(plan.eal, ["gapless", "--no-huge", "-l", "0"]);
        assert_eq!(plan.port, 0);
        assert_eq!(plan.address, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(plan.prefix_len, 24);
        assert_eq!((plan.gateway, plan.mac), (None, None));
        assert_eq!(plan.mbufs, 8191);
        assert_eq!(plan.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn full_table_keeps_every_setting() {
        let plan = entry(
            "port = 1\ngateway = \"10.77.0.254\"\nmac = \"02:0A:00:00:00:01\"\nmbufs = 4095\n\
             rx_descriptors = 512\ntx_descriptors = 256\nlink_timeout_ms = 100\n\
             connect_timeout_ms = 200\nlinger_ms = 300",
        )
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(plan.port, 1);
        assert_eq!(plan.gateway, Some(Ipv4Addr::new(10, 77, 0, 254)));
        assert_eq!(plan.mac, Some([2, 0x0a, 0, 0, 0, 1]));
        assert_eq!(
            (plan.mbufs, plan.rx_descriptors, plan.tx_descriptors),
            (4095, 512, 256)
        );
        assert_eq!(plan.link_timeout, Duration::from_millis(100));
        assert_eq!(plan.connect_timeout, Duration::from_millis(200));
        assert_eq!(plan.linger, Duration::from_millis(300));
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let error = entry("mtu = 9000").unwrap_err().to_string();
        assert!(error.contains("mtu"), "{error}");
    }

    #[test]
    fn address_without_prefix_or_over_32_is_invalid() {
        for address in ["10.77.0.2", "10.77.0.2/33", "host/24", "10.77.0.2/x"] {
            let table = format!("eal = []\naddress = \"{address}\"");
            let error = toml::from_str::<DpdkEntry>(&table)
                .unwrap()
                .plan()
                .unwrap_err()
                .to_string();
            assert!(error.contains("address"), "{address}: {error}");
        }
    }

    #[test]
    fn gateway_outside_subnet_is_invalid() {
        assert!(error_of("gateway = \"10.78.0.1\"").contains("outside"));
        // A /0 subnet contains every router.
        let table = "eal = []\naddress = \"10.77.0.2/0\"\ngateway = \"192.168.1.1\"";
        let plan = toml::from_str::<DpdkEntry>(table).unwrap().plan().unwrap();
        assert_eq!(plan.gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
    }

    #[test]
    fn multicast_or_malformed_mac_is_invalid() {
        assert!(error_of("mac = \"01:00:5e:00:00:01\"").contains("multicast"));
        for mac in [
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "02-00-00-00-00-01",
            "2:0:0:0:0:1",
        ] {
            assert!(
                error_of(&format!("mac = \"{mac}\"")).contains("not a MAC"),
                "{mac}"
            );
        }
    }

    #[test]
    fn pool_smaller_than_rings_is_invalid() {
        assert!(error_of("mbufs = 2048").contains("mbufs"));
        assert!(error_of("rx_descriptors = 0").contains("positive"));
    }

    fn gateway(transport: TransportName, dpdk: Option<DpdkEntry>) -> GatewayEntry {
        GatewayEntry {
            transport,
            dpdk,
            ..GatewayEntry::default()
        }
    }

    #[test]
    fn dpdk_transport_without_table_is_invalid() {
        let error = plan(&gateway(TransportName::Dpdk, None)).unwrap_err();
        assert!(error.to_string().contains("[gateway.dpdk]"), "{error}");
    }

    #[test]
    fn table_with_kernel_transport_is_invalid() {
        let error = plan(&gateway(TransportName::Socket, Some(entry("").unwrap()))).unwrap_err();
        assert!(error.to_string().contains("remove the table"), "{error}");
    }

    #[test]
    fn kernel_transport_without_table_has_no_plan() {
        assert_eq!(plan(&gateway(TransportName::Uring, None)).unwrap(), None);
    }

    #[cfg(feature = "dpdk")]
    #[test]
    fn dpdk_transport_with_table_plans_when_built_with_dpdk() {
        let planned = plan(&gateway(TransportName::Dpdk, Some(entry("").unwrap()))).unwrap();
        assert_eq!(
            planned.map(|p| p.address),
            Some(Ipv4Addr::new(10, 77, 0, 2))
        );
    }

    #[cfg(not(feature = "dpdk"))]
    #[test]
    fn dpdk_transport_is_refused_when_built_without_dpdk() {
        let error = plan(&gateway(TransportName::Dpdk, Some(entry("").unwrap()))).unwrap_err();
        assert!(error.to_string().contains("--features dpdk"), "{error}");
    }
}
