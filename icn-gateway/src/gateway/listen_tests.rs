use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn forwarded_addresses_count_only_from_trusted_proxies() {
    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let proxies = [proxy];
    let from_proxy = a("10.0.0.1:40000");
    let client = |h: &str| client_addr(from_proxy, Some(h.as_bytes()), &proxies);
    assert_eq!(client("198.51.100.7"), a("198.51.100.7:0"));
    // What the client wrote itself is left of what the proxy appended.
    assert_eq!(client("203.0.113.66, 198.51.100.7"), a("198.51.100.7:0"));
    // A chain of trusted proxies is walked from the right.
    assert_eq!(client("198.51.100.7, 10.0.0.1"), a("198.51.100.7:0"));
    // Nonsense, or nothing, leaves the connection's own address.
    assert_eq!(client("not-an-address"), from_proxy);
    assert_eq!(client_addr(from_proxy, None, &proxies), from_proxy);
    assert_eq!(client("10.0.0.1"), from_proxy);
    // From anyone else the header is ignored.
    let direct = a("198.51.100.9:5000");
    assert_eq!(client_addr(direct, Some(b"203.0.113.66"), &proxies), direct);
    // An IPv4 proxy connecting over an IPv6 socket is still the proxy.
    assert_eq!(
        client_addr(a("[::ffff:10.0.0.1]:1"), Some(b"198.51.100.7"), &proxies),
        a("198.51.100.7:0")
    );
}

#[test]
fn unusable_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let e = Certificates::load(&cert, &key).unwrap_err();
    assert!(e.to_string().contains("cert.pem"), "{e}");
    std::fs::write(&cert, "no pem here").unwrap();
    std::fs::write(&key, "nor here").unwrap();
    let e = Certificates::load(&cert, &key).unwrap_err();
    assert!(e.to_string().contains("cert.pem"), "{e}");
}
