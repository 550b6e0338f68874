//! Server-side request forgery guard: webhook URLs must be `http(s)` and may not reach loopback,
//! private, link-local, shared, multicast or unspecified addresses — checked when the URL is
//! given, and on every connection by the outbound client's resolver (so a DNS answer that
//! changes later cannot point a delivery inside).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http:// or https:// URL")]
    Malformed,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("does not resolve")]
    Unresolvable,
    #[error("reaches a loopback, private or internal address")]
    Internal,
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // shared address space (carrier-grade NAT), 100.64.0.0/10
        || (a == 100 && (64..128).contains(&b))
        // benchmarking, 198.18.0.0/15
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // unique local fc00::/7, link-local fe80::/10
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

/// Checks a webhook URL now (its host resolved); the parsed URL.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, UrlError> {
    let url = reqwest::Url::parse(raw).map_err(|_| UrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UrlError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if allow_private {
        return Ok(url);
    }
    let host = url.host_str().expect("checked above");
    let port = url.port_or_known_default().unwrap_or(80);
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| UrlError::Unresolvable)?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if addresses.iter().any(|ip| is_internal(*ip)) {
        return Err(UrlError::Internal);
    }
    Ok(url)
}

/// The outbound client's resolver: the system's answers less every internal address.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_internal(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(std::io::Error::other(
                    "the host resolves to no address a webhook may reach",
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "196.201.214.200", "2001:4860:4860::8888"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_to_internal_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert_eq!(
                check_url(url, false).await,
                Err(UrlError::Internal),
                "{url}"
            );
            assert!(check_url(url, true).await.is_ok(), "{url}");
        }
        assert_eq!(
            check_url("ftp://example.com/", false).await,
            Err(UrlError::Malformed)
        );
        assert_eq!(
            check_url("not a url", false).await,
            Err(UrlError::Malformed)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/", false).await,
            Err(UrlError::Credentials)
        );
    }
}
