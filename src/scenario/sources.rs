//! `[clients] source_addresses`: which loopback addresses the clients connect from.
//!
//! Every client connection to one server address needs a local port of its own, and the kernel
//! has only `net.ipv4.ip_local_port_range` of them per source address (28,232 by default). Every
//! address in 127.0.0.0/8 is local on Linux, so connecting from 127.0.0.2, 127.0.0.3, … as well
//! multiplies the ports. IPv6 has one loopback address, `::1`, so an IPv6 target gets one.
//!
//! Owns the setting, reading the key's value and whether a setting fits a target's address
//! family. Knows nothing of port counts, sockets, files or lines: how many addresses `Auto`
//! comes to is decided at run time, where the port range is known
//! ([`client::source`](crate::client::source)), and the caller places errors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most source addresses a scenario may ask for: 127.0.0.1 to 127.0.0.254 keeps a count in the
/// last octet (easy to read in `ss` output) and gives 254 × 28,232 ≈ 7 million ports, far past
/// the 1,000,000 subscribers a scenario may have.
pub const MAX_SOURCE_ADDRESSES: u32 = 254;

/// Where client connections come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SourceAddresses {
    /// As many addresses (127.0.0.1, 127.0.0.2, …) as the connection count needs; with one
    /// address needed, the kernel picks the source as it always has. The default.
    #[default]
    Auto,
    /// `source_addresses = N`: 127.0.0.1 to 127.0.0.N (`::1` when the target is IPv6, where N
    /// must be 1), whatever the connection count.
    Count(u32),
    /// `source_addresses = ["127.0.0.1", "127.0.0.9"]`: exactly these, taken in turn.
    List(Vec<IpAddr>),
}

impl SourceAddresses {
    /// The key's value as written back in a scenario file.
    pub fn toml_value(&self) -> toml::Value {
        match self {
            SourceAddresses::Auto => toml::Value::String("auto".into()),
            SourceAddresses::Count(n) => toml::Value::Integer(i64::from(*n)),
            SourceAddresses::List(list) => {
                let quoted = list.iter().map(|a| toml::Value::String(a.to_string()));
                toml::Value::Array(quoted.collect())
            }
        }
    }

    /// The addresses a count stands for, toward a target at `target`: 127.0.0.1 to 127.0.0.N, or
    /// `::1` for an IPv6 target. `None` for `Auto` and for a count that does not fit the target
    /// (see [`SourceAddresses::fits`]).
    pub fn explicit(&self, target: IpAddr) -> Option<Vec<IpAddr>> {
        match (self, target) {
            (SourceAddresses::Auto, _) => None,
            (SourceAddresses::Count(n), IpAddr::V4(_)) => Some(first_v4(*n)),
            (SourceAddresses::Count(1), IpAddr::V6(_)) => {
                Some(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)])
            }
            (SourceAddresses::Count(_), IpAddr::V6(_)) => None,
            (SourceAddresses::List(list), _) => Some(list.clone()),
        }
    }

    /// Whether this setting can reach a target at `target`: a source address must be of the
    /// target's family, and IPv6 has only one loopback address. The error says why not.
    pub fn fits(&self, target: IpAddr) -> Result<(), String> {
        match (self, target) {
            (SourceAddresses::Auto | SourceAddresses::Count(1), _) => Ok(()),
            (SourceAddresses::Count(n), IpAddr::V6(_)) => Err(format!(
                "[clients] source_addresses = {n} needs an IPv4 target, but {target} is IPv6, \
                 which has one loopback address (::1); use 1, or leave the key out"
            )),
            (SourceAddresses::Count(_), IpAddr::V4(_)) => Ok(()),
            (SourceAddresses::List(list), _) => {
                match list.iter().find(|a| a.is_ipv4() != target.is_ipv4()) {
                    Some(a) => Err(format!(
                        "[clients] source_addresses: {a} cannot connect to {target}, which is of the \
                     other address family; list {} only",
                        if target.is_ipv4() {
                            "127.0.0.x addresses"
                        } else {
                            "::1"
                        }
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

/// 127.0.0.1, 127.0.0.2, … : the first `n` usable addresses of 127.0.0.0/8.
pub fn first_v4(n: u32) -> Vec<IpAddr> {
    let first = u32::from(Ipv4Addr::new(127, 0, 0, 1));
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from(first + i)))
        .collect()
}

/// Reads the key's value: a count (`3`), `"auto"`, one address (`"127.0.0.2"`) or a list of
/// them. The error says what is wrong, starting with the key, for the caller to locate.
pub fn parse(value: &toml::Value) -> Result<SourceAddresses, String> {
    const KEY: &str = "[clients] source_addresses";
    match value {
        toml::Value::Integer(n) => {
            let max = i64::from(MAX_SOURCE_ADDRESSES);
            match u32::try_from(*n) {
                Ok(n) if (1..=MAX_SOURCE_ADDRESSES).contains(&n) => Ok(SourceAddresses::Count(n)),
                _ => Err(format!(
                    "{KEY} must be between 1 and {max} (got {n}): N means 127.0.0.1 to 127.0.0.N"
                )),
            }
        }
        toml::Value::String(s) if s == "auto" => Ok(SourceAddresses::Auto),
        toml::Value::String(s) => Ok(SourceAddresses::List(vec![address(s)?])),
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(format!(
                    "{KEY}: the list is empty; leave the key out to choose automatically"
                ));
            }
            if items.len() > MAX_SOURCE_ADDRESSES as usize {
                return Err(format!(
                    "{KEY}: at most {MAX_SOURCE_ADDRESSES} addresses (got {})",
                    items.len()
                ));
            }
            let mut list: Vec<IpAddr> = Vec::with_capacity(items.len());
            for item in items {
                let toml::Value::String(s) = item else {
                    return Err(format!(
                        "{KEY}: every entry must be a quoted address (got {item})"
                    ));
                };
                let a = address(s)?;
                if list.contains(&a) {
                    return Err(format!("{KEY}: {a} is listed twice"));
                }
                if list
                    .first()
                    .is_some_and(|first| first.is_ipv4() != a.is_ipv4())
                {
                    return Err(format!(
                        "{KEY}: {a} mixes IPv6 with IPv4; one target is reached over one family"
                    ));
                }
                list.push(a);
            }
            Ok(SourceAddresses::List(list))
        }
        other => Err(format!(
            "{KEY} must be a count (3: 127.0.0.1 to 127.0.0.3), \"auto\", or a list of loopback \
             addresses ([\"127.0.0.1\", \"127.0.0.2\"]) (got {other})"
        )),
    }
}

/// One listed address: an IP on loopback, and not 127.0.0.0/8's network or broadcast address
/// (the kernel will not connect from those).
fn address(s: &str) -> Result<IpAddr, String> {
    const KEY: &str = "[clients] source_addresses";
    let a: IpAddr = s
        .parse()
        .map_err(|_| format!("{KEY}: {s:?} is not an IP address"))?;
    if !a.is_loopback() {
        return Err(format!(
            "{KEY}: {a} is not a loopback address; wsbench only connects from 127.0.0.0/8 or ::1"
        ));
    }
    if a == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0))
        || a == IpAddr::V4(Ipv4Addr::new(127, 255, 255, 255))
    {
        return Err(format!(
            "{KEY}: {a} is the network or broadcast address of 127.0.0.0/8; pick another"
        ));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> toml::Value {
        let table: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        table["v"].clone()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn counts_lists_and_auto_parse() {
        assert_eq!(parse(&value("3")), Ok(SourceAddresses::Count(3)));
        assert_eq!(parse(&value("254")), Ok(SourceAddresses::Count(254)));
        assert_eq!(parse(&value("\"auto\"")), Ok(SourceAddresses::Auto));
        assert_eq!(
            parse(&value("\"127.0.0.2\"")),
            Ok(SourceAddresses::List(vec![ip("127.0.0.2")]))
        );
        assert_eq!(
            parse(&value("[\"127.0.0.1\", \"127.1.2.3\"]")),
            Ok(SourceAddresses::List(vec![
                ip("127.0.0.1"),
                ip("127.1.2.3")
            ]))
        );
        assert_eq!(
            parse(&value("[\"::1\"]")),
            Ok(SourceAddresses::List(vec![ip("::1")]))
        );
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let err = |text: &str| parse(&value(text)).unwrap_err();
        assert!(
            err("0").contains("between 1 and 254 (got 0)"),
            "{}",
            err("0")
        );
        assert!(err("255").contains("(got 255)"));
        assert!(err("-1").contains("(got -1)"));
        assert!(err("\"10.0.0.1\"").contains("10.0.0.1 is not a loopback address"));
        assert!(err("\"localhost\"").contains("\"localhost\" is not an IP address"));
        assert!(err("[]").contains("the list is empty"));
        assert!(err("[\"127.0.0.2\", \"127.0.0.2\"]").contains("127.0.0.2 is listed twice"));
        assert!(err("[\"127.0.0.1\", \"::1\"]").contains("mixes IPv6 with IPv4"));
        assert!(err("[\"127.0.0.0\"]").contains("network or broadcast"));
        assert!(err("\"127.255.255.255\"").contains("network or broadcast"));
        assert!(err("[1, 2]").contains("every entry must be a quoted address"));
        assert!(err("true").contains("must be a count"));
        assert!(err("2.5").contains("must be a count"));
    }

    #[test]
    fn a_count_stands_for_the_first_addresses_of_its_family() {
        let v4 = ip("127.0.0.1");
        assert_eq!(
            SourceAddresses::Count(3).explicit(v4),
            Some(vec![ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3")])
        );
        assert_eq!(first_v4(256).last(), Some(&ip("127.0.1.0")));
        assert_eq!(SourceAddresses::Auto.explicit(v4), None);
        assert_eq!(
            SourceAddresses::Count(1).explicit(ip("::1")),
            Some(vec![ip("::1")])
        );
        assert_eq!(SourceAddresses::Count(2).explicit(ip("::1")), None);
    }

    #[test]
    fn ipv6_targets_take_one_address_of_their_own_family() {
        let (v4, v6) = (ip("127.0.0.1"), ip("::1"));
        assert_eq!(SourceAddresses::Auto.fits(v6), Ok(()));
        assert_eq!(SourceAddresses::Count(1).fits(v6), Ok(()));
        assert_eq!(SourceAddresses::Count(3).fits(v4), Ok(()));
        assert!(
            SourceAddresses::Count(3)
                .fits(v6)
                .unwrap_err()
                .contains("one loopback address")
        );
        let list = SourceAddresses::List(vec![ip("127.0.0.2")]);
        assert_eq!(list.fits(v4), Ok(()));
        assert!(list.fits(v6).unwrap_err().contains("list ::1 only"));
        let list = SourceAddresses::List(vec![v6]);
        assert!(
            list.fits(v4)
                .unwrap_err()
                .contains("list 127.0.0.x addresses only")
        );
    }

    #[test]
    fn written_back_it_parses_to_the_same_setting() {
        for s in [
            SourceAddresses::Auto,
            SourceAddresses::Count(7),
            SourceAddresses::List(vec![ip("127.0.0.5"), ip("127.0.0.9")]),
        ] {
            assert_eq!(parse(&s.toml_value()), Ok(s));
        }
    }
}
