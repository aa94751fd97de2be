//! `allow-hosts` patterns against addresses and names, as properties: no
//! pattern ever allows an address it does not name, and the public-only
//! default never allows an address the IANA registries mark internal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use rusm_caps::{HostPattern, HostPolicy, NameMatch};

/// An address written as a pattern: an IP or a CIDR range, with or without
/// a port, with what it names computed here, independently of the parser.
#[derive(Clone, Debug)]
struct Written {
    text: String,
    /// (network bits, prefix, is IPv4)
    net: (u128, u8, bool),
    port: Option<u16>,
}

impl Written {
    /// Whether the address is one this pattern names: same family (an
    /// IPv4-mapped IPv6 address counts as its IPv4 address), the first
    /// `prefix` bits equal, the port equal when one is written.
    fn names(&self, addr: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != addr.port()) {
            return false;
        }
        let (net, prefix, v4) = self.net;
        let candidates: Vec<IpAddr> = vec![addr.ip(), addr.ip().to_canonical()];
        candidates.into_iter().any(|ip| match (ip, v4) {
            (IpAddr::V4(a), true) => {
                let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(a) & m == (net as u32) & m
            }
            (IpAddr::V6(a), false) => {
                let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(a) & m == net & m
            }
            _ => false,
        })
    }
}

/// Addresses clustered near a few bases, so that patterns and addresses
/// often share prefixes (a uniform draw would almost never hit a range).
fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (
            prop::sample::select(vec![
                0x7f00_0000u32,
                0x0a00_0000,
                0xa9fe_a9fe,
                0x5db8_d822,
                0xc0a8_0000
            ]),
            0u32..0x1_0000
        )
            .prop_map(|(base, low)| IpAddr::V4(Ipv4Addr::from(base ^ low))),
        any::<u32>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        (
            prop::sample::select(vec![
                1u128,
                0xfd00u128 << 112,
                0xffff_7f00_0001u128,
                0x2606_2800u128 << 96
            ]),
            0u128..0x1_0000
        )
            .prop_map(|(base, low)| IpAddr::V6(Ipv6Addr::from(base ^ low))),
        any::<u128>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![Just(80u16), Just(443), Just(8080), 1u16..]
}

fn written() -> impl Strategy<Value = Written> {
    (ip(), any::<u8>(), any::<bool>(), prop::option::of(port())).prop_map(
        |(ip, bits, cidr, port)| {
            let (bits_value, width, v4) = match ip {
                IpAddr::V4(a) => (u128::from(u32::from(a)), 32u8, true),
                IpAddr::V6(a) => (u128::from(a), 128u8, false),
            };
            let prefix = if cidr { bits % (width + 1) } else { width };
            let host = if cidr {
                format!("{ip}/{prefix}")
            } else {
                ip.to_string()
            };
            let text = match (port, ip) {
                (Some(p), IpAddr::V6(_)) if !cidr => format!("[{host}]:{p}"),
                (Some(p), IpAddr::V6(_)) => {
                    format!("{host}:{p}").replacen(&host, &format!("[{host}]"), 1)
                }
                (Some(p), _) => format!("{host}:{p}"),
                (None, _) => host,
            };
            Written {
                text,
                net: (bits_value, prefix, v4),
                port,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// An IP or CIDR entry allows exactly the addresses it names.
    #[test]
    fn an_address_pattern_allows_only_what_it_names(w in written(), addr_ip in ip(), addr_port in port()) {
        // `[v6/len]:port` is not a form the parser takes; skip only that spelling.
        let Ok(pattern) = w.text.parse::<HostPattern>() else {
            prop_assert!(w.text.contains("/") && w.text.starts_with('['), "{} refused", w.text);
            return Ok(());
        };
        let policy = HostPolicy::new(true, Some(std::slice::from_ref(&pattern)));
        let addr = SocketAddr::new(addr_ip, addr_port);
        prop_assert_eq!(policy.check_addr(addr), w.names(addr), "{} vs {}", w.text, addr);
        // A name is never an address: no name may be looked up under an
        // address-only list.
        prop_assert!(policy.check_name("example.com", addr_port).is_err());
        prop_assert!(!HostPolicy::new(false, Some(&[pattern])).check_addr(addr));
    }

    /// Name entries allow no address given as an address, and a wildcard
    /// match goes only to a public address or a listed one.
    #[test]
    fn name_patterns_allow_no_address(addr_ip in ip(), addr_port in port(), exact in any::<bool>()) {
        let text = if exact { "api.example.com" } else { "*.example.com" };
        let pattern: HostPattern = text.parse().unwrap();
        let policy = HostPolicy::new(true, Some(&[pattern]));
        let addr = SocketAddr::new(addr_ip, addr_port);
        prop_assert!(!policy.check_addr(addr));
        let how = policy.check_name("api.example.com", addr_port).unwrap();
        prop_assert_eq!(how == NameMatch::Exact, exact);
        prop_assert_eq!(policy.check_resolved(how, addr), exact || rusm_caps::is_global(addr_ip));
    }

    /// A socket lookup (no port): a wildcard or default match hands out an
    /// answer only if it is public or an address entry names it at some
    /// port; an exact match hands out every answer, and the connect asks
    /// again with its port. Under an address-only list, no name is looked
    /// up at all.
    #[test]
    fn a_lookup_hands_out_only_what_a_connect_could_reach(
        w in written(),
        answer in ip(),
        exact in any::<bool>(),
    ) {
        let Ok(listed) = w.text.parse::<HostPattern>() else {
            return Ok(());
        };
        let name: HostPattern = if exact { "api.example.com:443" } else { "*.example.com" }
            .parse()
            .unwrap();
        let policy = HostPolicy::new(true, Some(&[name, listed.clone()]));
        let how = policy.check_lookup("api.example.com").unwrap();
        prop_assert_eq!(how == NameMatch::Exact, exact);
        let named_at_some_port = w.names(SocketAddr::new(answer, w.port.unwrap_or(1)));
        prop_assert_eq!(
            policy.may_resolve_to(how, answer),
            exact || !internal(answer) || named_at_some_port,
            "{} answering {}", w.text, answer
        );
        let addresses_only = HostPolicy::new(true, Some(&[listed]));
        prop_assert!(addresses_only.check_lookup("api.example.com").is_err());
        prop_assert!(!HostPolicy::new(true, None).may_resolve_to(NameMatch::Wildcard, answer) || !internal(answer));
    }

    /// The public-only default allows an address exactly when it is
    /// outside every special-purpose range written out here again.
    #[test]
    fn the_default_allows_only_global_addresses(addr_ip in ip(), addr_port in port()) {
        let policy = HostPolicy::new(true, None);
        let addr = SocketAddr::new(addr_ip, addr_port);
        prop_assert_eq!(policy.check_addr(addr), !internal(addr_ip));
    }

    /// Numbers written as hosts are refused, whatever their form.
    #[test]
    fn numeric_hosts_are_refused(n in any::<u32>(), hex in any::<bool>(), parts in 1usize..4) {
        let text = match (hex, parts) {
            (false, 1) => n.to_string(),
            (true, 1) => format!("0x{n:x}"),
            (false, k) => format!("{}.{}", "1.".repeat(k - 1).trim_end_matches('.'), n % 256),
            (true, k) => format!("{}.0x{:x}", "1.".repeat(k - 1).trim_end_matches('.'), n % 256),
        };
        prop_assert!(text.parse::<HostPattern>().is_err(), "{} parsed", text);
        prop_assert!(HostPolicy::new(true, None).check_name(&text, 80).is_err());
    }
}

/// The IANA special-purpose ranges that are not globally reachable, by
/// prefix strings, checked on the canonical (embedded IPv4) form.
fn internal(ip: IpAddr) -> bool {
    let v4 = |a: Ipv4Addr| {
        let o = a.octets();
        o[0] == 0
            || o[0] == 10
            || (o[0] == 100 && (64..128).contains(&o[1]))
            || o[0] == 127
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 0 && o[2] == 0)
            || (o[0] == 192 && o[1] == 0 && o[2] == 2)
            || (o[0] == 192 && o[1] == 31 && o[2] == 196)
            || (o[0] == 192 && o[1] == 52 && o[2] == 193)
            || (o[0] == 192 && o[1] == 88 && o[2] == 99)
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 198 && (18..20).contains(&o[1]))
            || (o[0] == 198 && o[1] == 51 && o[2] == 100)
            || (o[0] == 203 && o[1] == 0 && o[2] == 113)
            || o[0] >= 224
    };
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => {
            let s = a.segments();
            let bits = u128::from(a);
            if bits >> 32 == 0xffff
                || (bits >> 32 == 0 && bits > 1)
                || bits >> 32 == 0x64_ff9b << 64
            {
                return v4(Ipv4Addr::from(bits as u32));
            }
            if s[0] == 0x2002 {
                return v4(Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                ));
            }
            bits <= 1
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
                || (s[0] == 0x2001 && s[1] < 0x200)
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || (s[0] == 0x3fff && s[1] < 0x1000)
                || s[0] == 0x5f00
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] & 0xff00) == 0xff00
        }
    }
}
