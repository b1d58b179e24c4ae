//! Where a native peer learns its public address and gets a relayed one:
//! the first STUN server and the first UDP TURN server of the ICE list its
//! gateway handed out (or the peer was given). The probe ([`super::stun`])
//! and the relay ([`super::turn`]) are sans-IO; this is their glue to the
//! peer's one UDP socket, which they share with the WebRTC links: datagrams
//! from a server go to its client, everything else to the links.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icn_core::ice::IceServer;
use tokio::net::UdpSocket;

use super::host::Host;
use super::{stun, turn};

/// Where a native peer learns its public address (STUN) and gets a
/// relayed one (TURN).
pub(super) struct Ice {
    /// Servers were given to the peer itself: its gateway's list does not
    /// replace them.
    pub(super) fixed: bool,
    /// The peer's UDP socket is IPv4.
    v4: bool,
    probe: stun::Reflexive,
    relay: Option<turn::Relay>,
}

impl Ice {
    /// `fixed`: the peer was given its servers, and its gateway's list does
    /// not replace them; `v4`: its socket is IPv4.
    pub(super) fn new(fixed: bool, v4: bool) -> Ice {
        Ice {
            fixed,
            v4,
            probe: stun::Reflexive::default(),
            relay: None,
        }
    }

    /// Asks the first STUN server of `servers` and allocates on the first
    /// TURN server with UDP (each resolved within 2 s).
    pub(super) async fn learn(&mut self, servers: &[IceServer]) {
        let urls: Vec<String> = servers.iter().flat_map(|s| s.urls.clone()).collect();
        if let Some(target) = stun::first_stun_target(&urls) {
            match self.resolve(&target).await {
                Some(a) => self.probe.set_server(a, Instant::now()),
                None => tracing::debug!("cannot resolve STUN server {target}"),
            }
        }
        let turn = servers
            .iter()
            .find_map(|s| Some((turn::first_turn_target(&s.urls)?, s)));
        if let Some((target, s)) = turn {
            match self.resolve(&target).await {
                Some(a) if self.relay.as_ref().is_none_or(|r| r.server() != a) => {
                    self.relay = Some(turn::Relay::new(
                        a,
                        &s.username,
                        &s.credential,
                        Instant::now(),
                    ));
                }
                Some(_) => {}
                None => tracing::debug!("cannot resolve TURN server {target}"),
            }
        }
    }

    async fn resolve(&self, target: &str) -> Option<SocketAddr> {
        let lookup = tokio::net::lookup_host(target);
        match tokio::time::timeout(Duration::from_secs(2), lookup).await {
            Ok(Ok(mut addrs)) => addrs.find(|a| a.is_ipv4() == self.v4),
            _ => None,
        }
    }

    /// Sends what STUN and TURN have for their servers, and what the links
    /// send through the relay; returns when to come back.
    pub(super) async fn flush(&mut self, h: &mut Host, udp: &UdpSocket) -> Option<Instant> {
        let now = Instant::now();
        if let Some((to, bytes)) = self.probe.poll(now) {
            let _ = udp.send_to(&bytes, to).await;
        }
        let relayed = h.links.take_relayed();
        let Some(relay) = &mut self.relay else {
            return self.probe.deadline();
        };
        for (peer, bytes) in relayed {
            tracing::trace!(%peer, len = bytes.len(), "to the TURN relay");
            relay.send(now, peer, &bytes);
        }
        while let Some(bytes) = relay.poll(now) {
            let _ = udp.send_to(&bytes, relay.server()).await;
        }
        match (self.probe.deadline(), relay.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A datagram for STUN or TURN; `false` if it is for the links.
    pub(super) fn handle_datagram(&mut self, h: &mut Host, from: SocketAddr, bytes: &[u8]) -> bool {
        if let Some(mapped) = self.probe.handle_datagram(from, bytes) {
            tracing::debug!(%mapped, "server-reflexive address");
            h.links.set_reflexive(mapped);
            return true;
        }
        let Some(relay) = self.relay.as_mut().filter(|r| r.server() == from) else {
            return false;
        };
        let had = relay.relayed();
        let now = Instant::now();
        if let (Some((peer, data)), Some(at)) = (relay.handle_datagram(now, bytes), had) {
            tracing::trace!(%peer, len = data.len(), "from the TURN relay");
            h.links.handle_datagram_at(now, peer, at, &data);
        }
        if let (None, Some(at)) = (had, relay.relayed()) {
            tracing::debug!(%at, "relayed address");
            h.links.set_relayed(at);
        }
        true
    }
}
