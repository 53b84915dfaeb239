//! Where admission and conversion webhooks may be called: a tenant writes
//! the URL, the server makes the call, so the operator decides which
//! destinations are reachable.
//!
//! Denied unless the operator allows them (`--admission-webhook-allowed-
//! networks`): loopback, link-local (cloud metadata services live at
//! `169.254.169.254` and `fd00:ec2::254`), private and unique-local ranges,
//! carrier-grade NAT, the unspecified and broadcast addresses, multicast and
//! the IETF special-purpose blocks; IPv4-mapped IPv6 addresses are judged
//! as the IPv4 address they carry. Public addresses are allowed.
//!
//! Whatever the operator allows, the server's own serving ports on local
//! addresses stay denied: a webhook pointing back at the server would make
//! every admission wait on itself.
//!
//! Names are resolved once per call and *every* address they resolve to
//! must be allowed; the connection then goes to an address that was
//! checked, never to a second resolution (a DNS answer that changes
//! between the check and the connect cannot redirect the call).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// An IP network in CIDR notation (`10.0.0.0/8`, `127.0.0.1/32`,
/// `fd00::/8`); a bare address is a single-address network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Network {
        Network {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Network {
        let [a, b, c, d, e, f, g, h] = segments;
        Network {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        // Destinations are judged in IPv4 form when IPv4-mapped; so are
        // networks written that way.
        if let IpAddr::V6(v6) = addr
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Network {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Network { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Denied unless allowed: RFC 6890's special-purpose blocks and what a
/// host can reach without leaving its own networks.
const DENIED: &[Network] = &[
    Network::v4(0, 0, 0, 0, 8),                // "this network", unspecified
    Network::v4(10, 0, 0, 0, 8),               // private
    Network::v4(100, 64, 0, 0, 10),            // carrier-grade NAT
    Network::v4(127, 0, 0, 0, 8),              // loopback
    Network::v4(169, 254, 0, 0, 16),           // link-local, cloud metadata
    Network::v4(172, 16, 0, 0, 12),            // private
    Network::v4(192, 0, 0, 0, 24),             // IETF protocol assignments
    Network::v4(192, 0, 2, 0, 24),             // documentation
    Network::v4(192, 88, 99, 0, 24),           // 6to4 relay
    Network::v4(192, 168, 0, 0, 16),           // private
    Network::v4(198, 18, 0, 0, 15),            // benchmarking
    Network::v4(198, 51, 100, 0, 24),          // documentation
    Network::v4(203, 0, 113, 0, 24),           // documentation
    Network::v4(224, 0, 0, 0, 4),              // multicast
    Network::v4(240, 0, 0, 0, 4),              // reserved, broadcast
    Network::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback, IPv4-compatible
    Network::v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // SIIT (embeds IPv4)
    Network::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64 (embeds IPv4)
    Network::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64
    Network::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard
    Network::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, Teredo
    Network::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    Network::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4 (embeds IPv4)
    Network::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
    Network::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    Network::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated)
    Network::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

/// The policy in force, shared by everything that calls out (admission
/// webhooks, conversion webhooks); set once the server knows its ports.
pub type Shared = Arc<parking_lot::RwLock<Arc<Egress>>>;

/// The operator's destination policy for webhook calls.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    /// Networks allowed although a default denial covers them.
    pub allowed: Vec<Network>,
    /// The server's own serving ports: denied on loopback, on the
    /// unspecified address and on every address of this host's interfaces.
    pub own_ports: Vec<u16>,
    /// This host's interface addresses ([`interface_addresses`]).
    pub local: Vec<IpAddr>,
}

/// The addresses of this host's network interfaces (`getifaddrs`).
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we only read and then
    // free with freeifaddrs; every pointer is checked before use.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// Name lookups in flight for webhook calls: the resolver runs on the
/// blocking thread pool, and a tenant's name whose DNS never answers must
/// not take all of it (the call's timeout ends the wait, not the thread).
static LOOKUPS: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(8)));

/// Why a destination is refused (the message names the address and the
/// flag, never anything about the server's networks beyond that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address as judged: an IPv4-mapped IPv6 address is its IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl Egress {
    /// Whether the call may go to `addr`.
    pub fn check(&self, addr: SocketAddr) -> Result<(), Refused> {
        let ip = canonical(addr.ip());
        let local = ip.is_loopback() || ip.is_unspecified() || self.local.contains(&ip);
        if local && self.own_ports.contains(&addr.port()) {
            return Err(Refused(format!(
                "{addr} is this server's own address; a webhook may not call the server itself"
            )));
        }
        if DENIED.iter().any(|n| n.contains(ip)) && !self.allowed.iter().any(|n| n.contains(ip)) {
            return Err(Refused(format!(
                "the destination {addr} is not allowed by the server's webhook egress policy (see --admission-webhook-allowed-networks)"
            )));
        }
        Ok(())
    }

    /// Resolves `host` and checks every address it resolves to; returns
    /// them (all allowed) for the caller to connect to. A name's refusal
    /// does not say what it resolved to (the server's resolver is not a
    /// lookup service for tenants; the log has it).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            let a = SocketAddr::new(ip, port);
            self.check(a).map_err(|r| r.0)?;
            return Ok(vec![a]);
        }
        // The permit travels into the resolver's thread and is released
        // only when that thread is done, so it bounds stuck threads, not
        // just waiting callers.
        let permit = LOOKUPS
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "resolving: closed".to_string())?;
        let name = host.to_string();
        let looked_up = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
                .map(|a| a.collect::<Vec<_>>())
        })
        .await;
        let addrs: Vec<SocketAddr> = match looked_up {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tracing::debug!(host, error = %e, "webhook host lookup failed");
                Vec::new()
            }
            Err(e) => return Err(format!("resolving {host}: {e}")),
        };
        // One answer whatever the reason: a tenant must not learn from it
        // whether an internal name exists.
        let refused = || {
            format!(
                "{host} does not resolve to addresses the server's webhook egress policy allows (see --admission-webhook-allowed-networks)"
            )
        };
        if addrs.is_empty() {
            return Err(refused());
        }
        for a in &addrs {
            if let Err(r) = self.check(*a) {
                tracing::info!(host, address = %a, reason = %r, "webhook destination refused");
                return Err(refused());
            }
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_deny_local_and_metadata_addresses() {
        let e = Egress::default();
        for denied in [
            "127.0.0.1:443",
            "127.1.2.3:8443",
            "169.254.169.254:80",
            "10.1.2.3:443",
            "172.20.0.1:443",
            "192.168.1.1:443",
            "100.64.0.1:443",
            "0.0.0.0:443",
            "255.255.255.255:443",
            "224.0.0.1:443",
            "[::1]:443",
            "[::]:443",
            "[fe80::1]:443",
            "[fd00:ec2::254]:80",
            "[::ffff:127.0.0.1]:443",
            "[::ffff:169.254.169.254]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "[64:ff9b:1::a9fe:a9fe]:80",
            "[::a9fe:a9fe]:80",
            "[::ffff:0:a9fe:a9fe]:80",
            "[fec0::1]:443",
            "[2001::1]:443",
            "[2002:a9fe:a9fe::]:80",
        ] {
            assert!(e.check(sa(denied)).is_err(), "{denied} must be denied");
        }
        for allowed in ["8.8.8.8:443", "[2606:4700::1111]:443", "1.1.1.1:8443"] {
            assert!(e.check(sa(allowed)).is_ok(), "{allowed} must be allowed");
        }
    }

    #[test]
    fn operator_allows_networks_but_never_the_servers_own_port() {
        let e = Egress {
            allowed: vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            own_ports: vec![6443],
            local: vec!["192.0.2.7".parse().unwrap()],
        };
        // The host's own addresses on the serving port, whatever the policy.
        let open = Egress {
            allowed: vec!["0.0.0.0/0".parse().unwrap()],
            ..e.clone()
        };
        assert!(open.check(sa("192.0.2.7:6443")).is_err());
        assert!(open.check(sa("192.0.2.7:443")).is_ok());
        assert!(e.check(sa("127.0.0.1:9443")).is_ok());
        assert!(e.check(sa("10.200.0.1:443")).is_ok());
        assert!(e.check(sa("127.0.0.2:9443")).is_err());
        let own = e.check(sa("127.0.0.1:6443")).unwrap_err();
        assert!(own.0.contains("server itself"), "{own}");
        assert!(e.check(sa("[::ffff:127.0.0.1]:6443")).is_err());
        assert!(e.check(sa("169.254.169.254:80")).is_err());
    }

    #[test]
    fn networks_parse_and_refuse_nonsense() {
        let n: Network = "192.168.0.0/16".parse().unwrap();
        assert!(n.contains("192.168.255.1".parse().unwrap()));
        assert!(!n.contains("192.169.0.1".parse().unwrap()));
        assert_eq!(n.to_string(), "192.168.0.0/16");
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let one: Network = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        // An IPv4-mapped network is its IPv4 network.
        let mapped: Network = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        for bad in ["", "10.0.0.0/33", "::/129", "host/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_a_denied_address_are_refused() {
        let e = Egress::default();
        // Whatever `localhost` resolves to here, all of it is loopback.
        let err = e.resolve("localhost", 443).await.unwrap_err();
        assert!(err.contains("does not resolve to addresses"), "{err}");
        assert!(!err.contains("127.0.0.1"), "the answer leaked: {err}");
        let err = e.resolve("127.0.0.1", 443).await.unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
        let allowed = Egress {
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()],
            ..Egress::default()
        };
        assert_eq!(
            allowed.resolve("127.0.0.1", 443).await.unwrap(),
            vec![sa("127.0.0.1:443")]
        );
    }
}
