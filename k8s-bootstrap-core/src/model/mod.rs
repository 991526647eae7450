//! The value types that the spec, the builders and the renderer share:
//! versions, networks, the problems a rule finds, and (below) what a
//! render produces. This module is the bottom layer of the crate: it
//! imports nothing of the crate but [`shell`](crate::shell), so that every
//! other module may import it without a cycle (the layers are checked by
//! `tests/layers.rs`).
//!
//! Each type is also at its older path (`spec::Version`, `spec::Problem`,
//! ...); both name the same type.
//!
//! ```
//! use k8s_bootstrap_core::model::{Ipv4Cidr, Problem, Version};
//! let v: Version = "3.4.23".parse().unwrap();
//! assert!(v < Version::new(3, 5, 0));
//! assert_eq!(v, k8s_bootstrap_core::spec::Version::new(3, 4, 23)); // one type, two paths
//! let n: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
//! let p = Problem::new("network.pod_cidr", n, "overlaps the service CIDR").fix("use 10.245.0.0/16");
//! assert_eq!(p.to_string(), "network.pod_cidr = 10.244.0.0/16: overlaps the service CIDR (fix: use 10.245.0.0/16)");
//! ```

mod cert;
mod net;
mod os;
mod problem;
mod rendered;
mod rules;
mod version;

pub use cert::{CertId, CertLayout};
pub use net::{CidrParseError, Ipv4Cidr};
pub use os::OsFamily;
pub use problem::Problem;
pub(crate) use problem::error_list;
pub use rendered::{Command, HostCert, HostRender, Phase, RenderedFile};
pub(crate) use rendered::text_file;
pub(crate) use rules::{name_rule, path_rule};
pub use version::{Version, VersionParseError};
