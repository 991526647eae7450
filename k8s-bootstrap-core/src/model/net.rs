//! IPv4 networks in CIDR notation, as flannel uses them.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network `a.b.c.d/len`. The address must be the network address
/// (no host bits set), as flannel requires.
///
/// ```
/// use k8s_bootstrap_core::spec::Ipv4Cidr;
/// let n: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
/// assert!(n.contains("10.244.3.1".parse().unwrap()));
/// assert!(n.overlaps(&"10.0.0.0/8".parse().unwrap()));
/// assert!("10.244.0.1/16".parse::<Ipv4Cidr>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Docker's default bridge network, which the tutorial reused for flannel.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// assert_eq!(Ipv4Cidr::DOCKER_DEFAULT.to_string(), "172.17.0.0/16");
    /// assert!(Ipv4Cidr::DOCKER_DEFAULT.contains("172.17.0.1".parse().unwrap())); // docker0
    /// ```
    pub const DOCKER_DEFAULT: Ipv4Cidr = Ipv4Cidr { addr: Ipv4Addr::new(172, 17, 0, 0), prefix: 16 };

    /// A network from its address and prefix length; `None` when the prefix
    /// is above 32 or host bits are set.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// assert_eq!(Ipv4Cidr::new([10, 244, 0, 0].into(), 16).unwrap().to_string(), "10.244.0.0/16");
    /// assert_eq!(Ipv4Cidr::new([10, 244, 1, 0].into(), 16), None); // host bits set
    /// assert_eq!(Ipv4Cidr::new([10, 0, 0, 0].into(), 33), None);
    /// ```
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        if prefix > 32 || u32::from(addr) & !mask(prefix) != 0 {
            return None;
        }
        Some(Ipv4Cidr { addr, prefix })
    }
    /// [`Ipv4Cidr::new`] from octets, usable in constants.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// const PODS: Option<Ipv4Cidr> = Ipv4Cidr::from_octets(10, 244, 0, 0, 16);
    /// assert_eq!(PODS, "10.244.0.0/16".parse().ok());
    /// assert_eq!(Ipv4Cidr::from_octets(10, 244, 0, 1, 16), None);
    /// ```
    pub const fn from_octets(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Option<Self> {
        let addr = Ipv4Addr::new(a, b, c, d);
        if prefix > 32 || addr.to_bits() & !mask(prefix) != 0 {
            return None;
        }
        Some(Ipv4Cidr { addr, prefix })
    }
    /// The network address.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// let n: Ipv4Cidr = "10.96.0.0/12".parse().unwrap();
    /// assert_eq!(n.addr().to_string(), "10.96.0.0");
    /// ```
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    /// The prefix length.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// let n: Ipv4Cidr = "10.96.0.0/12".parse().unwrap();
    /// assert_eq!(n.prefix(), 12);
    /// ```
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// Whether `ip` is inside this network.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// let pods: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
    /// assert!(pods.contains("10.244.5.1".parse().unwrap()));
    /// assert!(!pods.contains("192.168.1.30".parse().unwrap()));
    /// ```
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }
    /// Whether the two networks share an address.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// let pods: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
    /// assert!(!pods.overlaps(&"10.96.0.0/12".parse().unwrap())); // the service network
    /// assert!(pods.overlaps(&"10.244.5.0/24".parse().unwrap()));
    /// ```
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }
    /// The last address of the network.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Ipv4Cidr;
    /// let n: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
    /// assert_eq!(n.last().to_string(), "10.244.255.255");
    /// ```
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }
}

const fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The error of parsing an [`Ipv4Cidr`].
///
/// ```
/// use k8s_bootstrap_core::spec::{CidrParseError, Ipv4Cidr};
/// let err = "10.244.0.1/16".parse::<Ipv4Cidr>().unwrap_err();
/// assert_eq!(err, CidrParseError("10.244.0.1/16".into()));
/// assert!(err.to_string().contains("with no host bits set"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 network {0:?}: expected a network address and prefix such as 10.244.0.0/16, with no host bits set")]
pub struct CidrParseError(pub String);

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| err())?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let prefix: u8 = p.parse().map_err(|_| err())?;
        Ipv4Cidr::new(addr, prefix).ok_or_else(err)
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = CidrParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}
