//! Where outbound network may go: `allow-hosts` patterns, the public-only
//! default, and [`HostPolicy`], the one checker that name lookups, socket
//! connects and sends, and outgoing HTTP requests all ask.
//!
//! Three questions, asked in this order by every path that leaves the node:
//!
//! 1. [`HostPolicy::check_name`]: may this *name* be looked up at all (for
//!    this port)? Asked before any DNS traffic, so an unlisted name is never
//!    resolved. The answer says how the name was allowed: listed exactly,
//!    or only by a wildcard or the public-only default. A socket lookup
//!    names no port: [`HostPolicy::check_lookup`] asks the same of any
//!    port, and [`HostPolicy::may_resolve_to`] which of its answers the
//!    guest may learn; its connect then asks questions 1 and 2 again with
//!    the port.
//! 2. [`HostPolicy::check_resolved`]: may a connection go to this address,
//!    which that name resolved to? A name listed exactly may go wherever it
//!    resolves (the operator named it); a wildcard or default match may go
//!    only to a globally reachable address or to one listed itself, so a
//!    public name that resolves to 127.0.0.1 (DNS rebinding) is refused.
//! 3. [`HostPolicy::check_addr`]: may a connection go to this address, which
//!    no name stands for (the guest gave an address)? Only if an IP or CIDR
//!    entry (or `*`) lists it, or, without `allow-hosts`, it is globally
//!    reachable.
//!
//! Whether an address is globally reachable follows the IANA
//! special-purpose address registries; IPv6 forms that embed an IPv4
//! address (mapped, NAT64, 6to4, IPv4-compatible) are judged by the
//! embedded address, so `::ffff:127.0.0.1` is loopback.
//!
//! ```
//! use rusm_caps::{HostPattern, HostPolicy};
//!
//! let hosts: Vec<HostPattern> = ["api.example.com:443", "*.corp.example", "10.0.0.0/8:5432"]
//!     .iter()
//!     .map(|p| p.parse().unwrap())
//!     .collect();
//! let policy = HostPolicy::new(true, Some(&hosts));
//!
//! let api = policy.check_name("API.Example.com.", 443).unwrap();
//! assert!(policy.check_resolved(api, "127.0.0.1:443".parse().unwrap()), "listed exactly");
//! assert!(policy.check_name("api.example.com", 80).is_err(), "another port");
//!
//! let db = policy.check_name("db.corp.example", 5432).unwrap();
//! assert!(!policy.check_resolved(db, "127.0.0.1:5432".parse().unwrap()), "rebinding");
//! assert!(policy.check_resolved(db, "10.1.2.3:5432".parse().unwrap()), "listed address");
//!
//! assert!(!policy.check_addr("169.254.169.254:80".parse().unwrap()));
//! assert!(HostPolicy::new(true, None).check_addr("93.184.216.34:443".parse().unwrap()));
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// One `allow-hosts` entry: `HOST[:PORT]`, already checked and normalized.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPattern {
    host: HostMatch,
    /// `None`: any port (no port written, or `*`).
    port: Option<u16>,
}

/// The HOST half of a pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostMatch {
    /// `*` alone: every destination, internal ones included.
    Any,
    /// A DNS name, lowercase ASCII (IDNA A-labels), no trailing dot.
    Name(String),
    /// `*.suffix`: one or more labels before `.suffix` (stored without
    /// the `*.`).
    Suffix(String),
    /// An address, or a CIDR range (`prefix` bits of `net` fixed; an
    /// address is a range of the whole width). IPv4 in IPv6 is kept as
    /// written: the checker canonicalizes the destination instead.
    Net { net: IpAddr, prefix: u8 },
}

/// Why an `allow-hosts` entry was refused; the message says what to write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostPatternError {
    /// Nothing to match.
    #[error("empty host pattern")]
    Empty,
    /// A port that is not a number from 1 to 65535 or `*`.
    #[error("bad port `{0}` (expected a number from 1 to 65535, or `*`)")]
    Port(String),
    /// A host written as a number that is not a dotted quad.
    #[error(
        "`{0}` is a numeric host that is not a dotted-quad IPv4 address (write the address as a.b.c.d)"
    )]
    NumericHost(String),
    /// A trailing dot.
    #[error("`{0}` ends with a dot (write the name without it)")]
    TrailingDot(String),
    /// A `*` anywhere but as the whole first label or the whole pattern.
    #[error("`{0}`: a wildcard is `*` alone or `*.suffix`")]
    Wildcard(String),
    /// Not a valid DNS name.
    #[error("`{0}` is not a valid host name")]
    Name(String),
    /// A CIDR range that does not parse.
    #[error("bad CIDR range `{0}` (expected ADDRESS/BITS, e.g. 10.0.0.0/8 or fd00::/8)")]
    Cidr(String),
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(HostPatternError::Empty);
        }
        if text == "*" {
            return Ok(HostPattern {
                host: HostMatch::Any,
                port: None,
            });
        }
        let (host, port) = split_port(text)?;
        Ok(HostPattern {
            host: parse_host(host)?,
            port,
        })
    }
}

/// `HOST[:PORT]` into its halves. An IPv6 address is written in brackets
/// when a port follows (`[::1]:8080`); without brackets, a text with more
/// than one `:` is an IPv6 address or range with no port.
fn split_port(text: &str) -> Result<(&str, Option<u16>), HostPatternError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| HostPatternError::Name(text.to_owned()))?;
        match after.strip_prefix(':') {
            Some(p) => (inside, Some(p)),
            None if after.is_empty() => (inside, None),
            None => return Err(HostPatternError::Name(text.to_owned())),
        }
    } else if text.matches(':').count() == 1 {
        let (h, p) = text.split_once(':').expect("one colon");
        (h, Some(p))
    } else {
        (text, None)
    };
    let port = match port {
        None | Some("*") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => Some(n),
            _ => return Err(HostPatternError::Port(p.to_owned())),
        },
    };
    if host.is_empty() {
        return Err(HostPatternError::Empty);
    }
    Ok((host, port))
}

fn parse_host(host: &str) -> Result<HostMatch, HostPatternError> {
    if let Some((addr, bits)) = host.split_once('/') {
        let cidr = || HostPatternError::Cidr(host.to_owned());
        let net: IpAddr = addr.parse().map_err(|_| cidr())?;
        let width = if net.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = bits.parse().map_err(|_| cidr())?;
        if prefix > width || bits.starts_with('+') {
            return Err(cidr());
        }
        return Ok(HostMatch::Net {
            net: mask(net, prefix),
            prefix,
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(HostMatch::Net { net: ip, prefix });
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        let name = normalize_name(suffix)?;
        return Ok(HostMatch::Suffix(name));
    }
    Ok(HostMatch::Name(normalize_name(host)?))
}

/// A DNS name as patterns and destinations are compared: IDNA A-labels,
/// lowercase, checked label by label. `Err` for a numeric host (the URL
/// standard would read `2130706433` or `0x7f.1` as 127.0.0.1: a pattern or
/// destination written so is refused, never guessed), a trailing dot, a
/// stray `*`, or anything that is not a host name.
fn normalize_name(name: &str) -> Result<String, HostPatternError> {
    if name.ends_with('.') {
        return Err(HostPatternError::TrailingDot(name.to_owned()));
    }
    if name.contains('*') {
        return Err(HostPatternError::Wildcard(name.to_owned()));
    }
    let ascii =
        idna::domain_to_ascii_strict(name).map_err(|_| HostPatternError::Name(name.to_owned()))?;
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(HostPatternError::Name(name.to_owned()));
    }
    let last = ascii.rsplit('.').next().unwrap_or_default();
    if is_numeric_label(last) {
        return Err(HostPatternError::NumericHost(name.to_owned()));
    }
    for label in ascii.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(HostPatternError::Name(name.to_owned()));
        }
    }
    Ok(ascii)
}

/// A destination's DNS name as the checker compares it (lowercase IDNA
/// A-labels), from the form a guest writes it in (any case, a trailing dot
/// allowed). `Err` for a numeric host or anything that is not a name.
pub fn destination_name(name: &str) -> Result<String, HostPatternError> {
    normalize_name(name.strip_suffix('.').unwrap_or(name))
}

/// The URL standard's "ends in a number" rule: a last label of decimal
/// digits, or `0x` followed by hex digits, makes the host an IPv4 number.
fn is_numeric_label(label: &str) -> bool {
    if !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// `ip` with all but the first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl HostPattern {
    /// `*`: every destination (what `trusted` has).
    pub fn any() -> Self {
        HostPattern {
            host: HostMatch::Any,
            port: None,
        }
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        self.host == HostMatch::Any
    }

    /// Whether a pattern names hosts by DNS name (exactly or by suffix).
    pub fn is_name(&self) -> bool {
        matches!(self.host, HostMatch::Name(_) | HostMatch::Suffix(_))
    }

    fn port_matches(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether this pattern lists the address `addr` (by `*`, an IP or a
    /// CIDR range, and the port). Names never list an address.
    fn lists_addr(&self, addr: SocketAddr) -> bool {
        if !self.port_matches(addr.port()) {
            return false;
        }
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Name(_) | HostMatch::Suffix(_) => false,
            HostMatch::Net { net, prefix } => {
                let ip = addr.ip();
                let canonical = ip.to_canonical();
                [ip, canonical].into_iter().any(|candidate| {
                    candidate.is_ipv4() == net.is_ipv4() && mask(candidate, *prefix) == *net
                })
            }
        }
    }

    /// Whether this pattern lists `ip` at some port.
    fn lists_ip(&self, ip: IpAddr) -> bool {
        self.lists_addr(SocketAddr::new(ip, self.port.unwrap_or(1)))
    }

    /// How this pattern lists the normalized `name` at `port`, if it does.
    fn lists_name(&self, name: &str, port: u16) -> Option<NameMatch> {
        if !self.port_matches(port) {
            return None;
        }
        self.lists_name_at_any_port(name)
    }

    /// How this pattern lists the normalized `name` at some port.
    fn lists_name_at_any_port(&self, name: &str) -> Option<NameMatch> {
        match &self.host {
            HostMatch::Any => Some(NameMatch::Exact),
            HostMatch::Name(n) if n == name => Some(NameMatch::Exact),
            HostMatch::Suffix(s)
                if name.len() > s.len() + 1
                    && name.ends_with(s.as_str())
                    && name.as_bytes()[name.len() - s.len() - 1] == b'.' =>
            {
                Some(NameMatch::Wildcard)
            }
            _ => None,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = matches!(
            self.host,
            HostMatch::Net {
                net: IpAddr::V6(_),
                prefix: 128
            }
        ) && self.port.is_some();
        match &self.host {
            HostMatch::Any => return f.write_str("*"),
            HostMatch::Name(n) => f.write_str(n)?,
            HostMatch::Suffix(s) => write!(f, "*.{s}")?,
            HostMatch::Net { net, prefix } if bracket && *prefix == 128 => write!(f, "[{net}]")?,
            HostMatch::Net { net, prefix } if *prefix == 32 && net.is_ipv4() => write!(f, "{net}")?,
            HostMatch::Net { net, prefix } if *prefix == 128 => write!(f, "{net}")?,
            HostMatch::Net { net, prefix } => write!(f, "{net}/{prefix}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// How a name passed [`HostPolicy::check_name`]: it decides which
/// addresses the name may then go to ([`HostPolicy::check_resolved`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    /// Listed exactly (or by `*`): the operator named this host, so it may
    /// go wherever it resolves.
    Exact,
    /// By a `*.suffix` entry or the public-only default: only to globally
    /// reachable addresses, or to addresses listed themselves.
    Wildcard,
}

/// A refused destination, for the `rusm deny` line and the guest's error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostDenied {
    /// The profile has no `allow-network`.
    #[error("no allow-network")]
    NoNetwork,
    /// The name is not valid (numeric, not a host name).
    #[error("{0}")]
    BadName(HostPatternError),
    /// No entry lists this name at this port.
    #[error("not in allow-hosts")]
    Unlisted,
}

/// The one destination checker of a process: built once from its grants
/// and asked by every outbound path (see the module docs for the three
/// questions). Cheap to clone: the node keeps one per process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    network: bool,
    /// `None`: the public-only default.
    hosts: Option<Vec<HostPattern>>,
}

impl HostPolicy {
    /// The policy of a process with `allow-network = network` and
    /// `allow-hosts = hosts` (`None` when the profile has no `allow-hosts`).
    pub fn new(network: bool, hosts: Option<&[HostPattern]>) -> Self {
        HostPolicy {
            network,
            hosts: hosts.map(<[HostPattern]>::to_vec),
        }
    }

    /// The policy of `caps`.
    pub fn of(caps: &crate::Capabilities) -> Self {
        Self::new(caps.allow_network, caps.allow_hosts.as_deref())
    }

    /// Whether any destination at all may be reached.
    pub fn allows_network(&self) -> bool {
        self.network
    }

    /// Whether any DNS name may be looked up: always under the public-only
    /// default, only if a name entry (or `*`) exists under `allow-hosts`.
    pub fn allows_lookups(&self) -> bool {
        self.network
            && match &self.hosts {
                None => true,
                Some(h) => h.iter().any(|p| p.is_any() || p.is_name()),
            }
    }

    /// Question 1: may `name` (as the guest wrote it: any case, a trailing
    /// dot allowed) be looked up to reach `port`? Asked before the lookup.
    pub fn check_name(&self, name: &str, port: u16) -> Result<NameMatch, HostDenied> {
        if !self.network {
            return Err(HostDenied::NoNetwork);
        }
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        let name = normalize_name(trimmed).map_err(HostDenied::BadName)?;
        match &self.hosts {
            None => Ok(NameMatch::Wildcard),
            Some(hosts) => {
                let mut best = None;
                for p in hosts {
                    match p.lists_name(&name, port) {
                        Some(NameMatch::Exact) => return Ok(NameMatch::Exact),
                        Some(m) => best = Some(m),
                        None => {}
                    }
                }
                best.ok_or(HostDenied::Unlisted)
            }
        }
    }

    /// Question 1 for a lookup that names no port (`wasi:sockets`'
    /// `ip-name-lookup`): may `name` be looked up at all, to reach any
    /// port? `Exact` if some entry lists it exactly (at some port), else
    /// `Wildcard`. The connect that follows asks
    /// [`check_name`](Self::check_name) again with its port.
    pub fn check_lookup(&self, name: &str) -> Result<NameMatch, HostDenied> {
        if !self.network {
            return Err(HostDenied::NoNetwork);
        }
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        let name = normalize_name(trimmed).map_err(HostDenied::BadName)?;
        match &self.hosts {
            None => Ok(NameMatch::Wildcard),
            Some(hosts) => {
                let mut best = None;
                for p in hosts {
                    match p.lists_name_at_any_port(&name) {
                        Some(NameMatch::Exact) => return Ok(NameMatch::Exact),
                        Some(m) => best = Some(m),
                        None => {}
                    }
                }
                best.ok_or(HostDenied::Unlisted)
            }
        }
    }

    /// Question 2 without a port, for the answer of a lookup: may a
    /// connection go to `ip`, which a name allowed as `how` resolved to,
    /// at some port? An address for which this is `false` is never handed
    /// to the guest (it could not connect to it, and learning it would
    /// map the operator's internal names).
    pub fn may_resolve_to(&self, how: NameMatch, ip: IpAddr) -> bool {
        self.network
            && match how {
                NameMatch::Exact => true,
                NameMatch::Wildcard => {
                    is_global(ip)
                        || match &self.hosts {
                            None => false,
                            Some(hosts) => hosts.iter().any(|p| p.lists_ip(ip)),
                        }
                }
            }
    }

    /// Whether a name's addresses must be remembered to be reached: under
    /// a list, a connect to an address that a permitted name resolved to
    /// is allowed only as that name's (see [`check_resolved`]); under the
    /// public-only default and `*`, [`check_addr`] alone gives the same
    /// answer.
    ///
    /// [`check_resolved`]: Self::check_resolved
    /// [`check_addr`]: Self::check_addr
    pub fn needs_resolved_names(&self) -> bool {
        self.network
            && match &self.hosts {
                None => false,
                Some(h) => !h.iter().any(HostPattern::is_any),
            }
    }

    /// Question 2: may a connection go to `addr`, an address that a name
    /// allowed as `how` resolved to?
    pub fn check_resolved(&self, how: NameMatch, addr: SocketAddr) -> bool {
        self.network
            && match how {
                NameMatch::Exact => true,
                NameMatch::Wildcard => is_global(addr.ip()) || self.check_addr(addr),
            }
    }

    /// Question 3: may a connection go to `addr`, given as an address?
    pub fn check_addr(&self, addr: SocketAddr) -> bool {
        self.network
            && match &self.hosts {
                None => is_global(addr.ip()),
                Some(hosts) => hosts.iter().any(|p| p.lists_addr(addr)),
            }
    }

    /// The hosts line of `rusm caps` and the lifecycle spawn line:
    /// `public` for the default, else the entries, comma-separated.
    pub fn describe(&self) -> String {
        match &self.hosts {
            None => "public".to_owned(),
            Some(h) if h.is_empty() => "none".to_owned(),
            Some(h) => h
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// Whether the IANA special-purpose registries leave `ip` globally
/// reachable: the public-only default lets only these through. IPv6 forms
/// that embed an IPv4 address are judged by the embedded address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    mask(IpAddr::V4(ip), prefix) == IpAddr::V4(Ipv4Addr::from(net))
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    const NOT_GLOBAL: [([u8; 4], u8); 16] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local (cloud metadata)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 31, 196, 0], 24), // AS112
        ([192, 52, 193, 0], 24), // AMT
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 3),     // multicast 224/4 and reserved 240/4 (and broadcast)
    ];
    !NOT_GLOBAL
        .iter()
        .any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

/// The IPv4 address an IPv6 address carries, for the forms that carry one:
/// IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96` (deprecated; `::`
/// and `::1` are themselves, not IPv4), NAT64 `64:ff9b::/96`, and 6to4
/// `2002::/16` (the address in bits 16 to 48).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    let seg = ip.segments();
    if bits >> 32 == 0xffff {
        return Some(low);
    }
    if bits >> 32 == 0 && bits > 1 {
        return Some(low);
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(low);
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    const NOT_GLOBAL: [(u128, u8); 12] = [
        (0, 128),                     // unspecified
        (1, 128),                     // loopback
        (0x0064_ff9b_0001 << 80, 48), // local-use IPv4/IPv6 translation
        (0x0100 << 112, 64),          // discard-only
        (0x2001 << 112, 23),          // IETF protocol assignments
        (0x2001_0db8 << 96, 32),      // documentation
        (0x3fff << 112, 20),          // documentation
        (0x5f00 << 112, 16),          // segment routing
        (0xfc00 << 112, 7),           // unique local
        (0xfe80 << 112, 10),          // link-local
        (0xfec0 << 112, 10),          // deprecated site-local
        (0xff00 << 112, 8),           // multicast
    ];
    let bits = u128::from(ip);
    !NOT_GLOBAL.iter().any(|(net, prefix)| {
        let m = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
        bits & m == *net
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn patterns_parse_and_print() {
        for (text, shown) in [
            ("api.example.com:443", "api.example.com:443"),
            ("API.Example.COM", "api.example.com"),
            ("*.internal.example:*", "*.internal.example"),
            ("10.1.2.3:5432", "10.1.2.3:5432"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("::1", "::1"),
            ("[::1]:8080", "[::1]:8080"),
            ("fd00::/8", "fd00::/8"),
            ("*", "*"),
            ("bücher.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(p(text).to_string(), shown, "{text}");
        }
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "2130706433",
            "0x7f.1",
            "127.1",
            "0177.0.0.1",
            "a.b.0x10",
            "example.com.",
            "ex*ample.com",
            "*example.com",
            "a.*.example.com",
            "example.com:0",
            "example.com:65536",
            "example.com:http",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "[::1",
            "-bad.example",
            "a b.example",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_default_refuses_internal_addresses() {
        let policy = HostPolicy::new(true, None);
        for internal in [
            "127.0.0.1:80",
            "10.0.0.1:80",
            "172.16.0.1:80",
            "192.168.1.1:80",
            "169.254.169.254:80",
            "100.64.0.1:80",
            "0.0.0.0:80",
            "192.0.0.8:80",
            "198.18.0.1:80",
            "224.0.0.1:80",
            "255.255.255.255:80",
            "[::1]:80",
            "[::]:80",
            "[fd00::1]:80",
            "[fe80::1]:80",
            "[ff02::1]:80",
            "[::ffff:127.0.0.1]:80",
            "[::ffff:169.254.169.254]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "[2002:7f00:1::]:80",
            "[2001:db8::1]:80",
        ] {
            assert!(!policy.check_addr(a(internal)), "{internal} allowed");
        }
        for public in [
            "93.184.216.34:443",
            "[2606:2800:220:1::1]:443",
            "[::ffff:8.8.8.8]:53",
        ] {
            assert!(policy.check_addr(a(public)), "{public} refused");
        }
        assert!(!HostPolicy::new(false, None).check_addr(a("93.184.216.34:443")));
    }

    #[test]
    fn names_are_checked_before_lookups() {
        let hosts = [p("api.example.com:443"), p("*.corp.example")];
        let policy = HostPolicy::new(true, Some(&hosts));
        assert_eq!(
            policy.check_name("api.example.com", 443),
            Ok(NameMatch::Exact)
        );
        assert_eq!(
            policy.check_name("API.EXAMPLE.COM.", 443),
            Ok(NameMatch::Exact)
        );
        assert_eq!(
            policy.check_name("api.example.com", 80),
            Err(HostDenied::Unlisted)
        );
        assert_eq!(
            policy.check_name("a.b.corp.example", 1),
            Ok(NameMatch::Wildcard)
        );
        assert_eq!(
            policy.check_name("corp.example", 1),
            Err(HostDenied::Unlisted)
        );
        assert_eq!(
            policy.check_name("xcorp.example", 1),
            Err(HostDenied::Unlisted)
        );
        assert!(matches!(
            policy.check_name("2130706433", 80),
            Err(HostDenied::BadName(_))
        ));
        assert!(!policy.check_resolved(NameMatch::Wildcard, a("127.0.0.1:80")));
        assert!(policy.check_resolved(NameMatch::Exact, a("127.0.0.1:443")));
        assert!(
            !policy.check_addr(a("93.184.216.34:443")),
            "names list no address"
        );
        assert!(policy.allows_lookups());
        assert!(!HostPolicy::new(true, Some(&[p("10.0.0.0/8")])).allows_lookups());
    }

    #[test]
    fn lookups_without_a_port() {
        let hosts = [
            p("api.example.com:443"),
            p("*.corp.example"),
            p("10.0.0.0/8:5432"),
        ];
        let policy = HostPolicy::new(true, Some(&hosts));
        assert_eq!(
            policy.check_lookup("API.example.com."),
            Ok(NameMatch::Exact)
        );
        assert_eq!(
            policy.check_lookup("db.corp.example"),
            Ok(NameMatch::Wildcard)
        );
        assert_eq!(
            policy.check_lookup("example.com"),
            Err(HostDenied::Unlisted)
        );
        assert!(matches!(
            policy.check_lookup("0x7f.1"),
            Err(HostDenied::BadName(HostPatternError::NumericHost(_)))
        ));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Exact: anywhere; the connect asks again with its port.
        assert!(policy.may_resolve_to(NameMatch::Exact, ip("127.0.0.1")));
        // Wildcard: public, or listed (at any port).
        assert!(policy.may_resolve_to(NameMatch::Wildcard, ip("93.184.216.34")));
        assert!(policy.may_resolve_to(NameMatch::Wildcard, ip("10.9.8.7")));
        assert!(!policy.may_resolve_to(NameMatch::Wildcard, ip("127.0.0.1")));
        assert!(!policy.may_resolve_to(NameMatch::Wildcard, ip("::ffff:169.254.169.254")));
        assert!(policy.needs_resolved_names());

        let default = HostPolicy::new(true, None);
        assert_eq!(
            default.check_lookup("anything.example"),
            Ok(NameMatch::Wildcard)
        );
        assert!(!default.may_resolve_to(NameMatch::Wildcard, ip("::1")));
        assert!(!default.needs_resolved_names());
        assert!(!HostPolicy::new(true, Some(&[HostPattern::any()])).needs_resolved_names());
        assert_eq!(
            HostPolicy::new(false, None).check_lookup("example.com"),
            Err(HostDenied::NoNetwork)
        );
    }

    #[test]
    fn star_reaches_everything() {
        let policy = HostPolicy::new(true, Some(&[HostPattern::any()]));
        assert!(policy.check_addr(a("127.0.0.1:1")));
        assert!(policy.check_addr(a("[::1]:1")));
        assert_eq!(policy.check_name("localhost", 1), Ok(NameMatch::Exact));
        assert_eq!(policy.describe(), "*");
    }

    #[test]
    fn mapped_addresses_match_ipv4_entries() {
        let policy = HostPolicy::new(true, Some(&[p("127.0.0.1:8080")]));
        assert!(policy.check_addr(a("[::ffff:127.0.0.1]:8080")));
        assert!(!policy.check_addr(a("127.0.0.1:8081")));
        assert!(!policy.check_addr(a("127.0.0.2:8080")));
    }
}
