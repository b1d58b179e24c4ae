// A small internet made of Linux network namespaces, for the tests that
// run peers the way visitors' browsers are connected: a public segment
// (a bridge in its own namespace, holding the gateway and coturn) and homes,
// each a host namespace behind a router namespace that NATs it with
// iptables, as a home router does. Needs root, `ip` and `iptables`.
//
// Addresses come from the documentation ranges (public 203.0.113.0/24,
// homes 198.51.100.0/24), and the bed refuses to start if the host itself
// uses either. Every namespace is removed by `destroy()`, also when the
// process exits early.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync, chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PUBLIC_IP = "203.0.113.1";

function sh(...args) {
  return execFileSync(args[0], args.slice(1), { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

/** Runs `cmd` inside namespace `ns`. */
export function inNs(ns, ...cmd) {
  return sh("ip", "netns", "exec", ns, ...cmd);
}

/**
 * Builds the bed. `homes` lists each home's NAT: "cone" (MASQUERADE, the
 * mapping kept per socket, unsolicited inbound dropped) or "symmetric"
 * (MASQUERADE --random-fully: a new port for every destination).
 */
export function buildInternet(homes) {
  const hostAddrs = sh("ip", "-o", "addr", "show");
  for (const range of ["203.0.113.", "198.51.100."]) {
    if (hostAddrs.includes(` ${range}`)) throw new Error(`the host already uses ${range}0/24; the test bed needs it`);
  }
  const tag = `icnt${process.pid % 100000}`;
  const made = [];
  const bed = { tag, made, pub: `${tag}-pub`, homes: [], destroy };
  const add = (ns) => {
    sh("ip", "netns", "add", ns);
    made.push(ns);
    inNs(ns, "ip", "link", "set", "lo", "up");
  };
  function destroy() {
    for (const ns of made.splice(0).reverse()) {
      try { sh("ip", "netns", "del", ns); } catch { /* already gone */ }
    }
  }
  process.once("exit", destroy);
  // A test runner stopped by a signal does not reach "exit" on its own: the
  // namespaces would outlive it (measured: a SIGTERM left five behind).
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
    process.once(sig, () => {
      destroy();
      process.exit(128 + (sig === "SIGHUP" ? 1 : sig === "SIGINT" ? 2 : 15));
    });
  }
  try {
    add(bed.pub);
    inNs(bed.pub, "ip", "link", "add", "br0", "type", "bridge");
    inNs(bed.pub, "ip", "addr", "add", `${PUBLIC_IP}/24`, "dev", "br0");
    inNs(bed.pub, "ip", "link", "set", "br0", "up");
    // The rest of the internet: a default route to a router nobody is
    // (a fixed neighbour entry, so nothing waits on ARP) drops everything, as packets to addresses nobody routes die somewhere out
    // there. Without it a send from the public segment to a home's private
    // address fails at once (ENETUNREACH), which no server on the internet
    // sees; coturn ends an allocation whose relayed send fails so.
    inNs(bed.pub, "ip", "neigh", "add", "203.0.113.254", "lladdr", "02:00:00:00:00:fe", "dev", "br0", "nud", "permanent");
    inNs(bed.pub, "ip", "route", "add", "default", "via", "203.0.113.254", "dev", "br0");
    homes.forEach((nat, i) => {
      const router = `${tag}-r${i}`, host = `${tag}-h${i}`;
      const wan = `203.0.113.${11 + i}`;
      const lanNet = 64 * i; // 198.51.100.0/26, .64/26, ...
      const gw = `198.51.100.${lanNet + 1}`, addr = `198.51.100.${lanNet + 2}`;
      add(router);
      add(host);
      // Router WAN: a veth into the public bridge.
      sh("ip", "link", "add", `${tag}w${i}`, "type", "veth", "peer", "name", `${tag}b${i}`);
      sh("ip", "link", "set", `${tag}w${i}`, "netns", router);
      sh("ip", "link", "set", `${tag}b${i}`, "netns", bed.pub);
      inNs(bed.pub, "ip", "link", "set", `${tag}b${i}`, "master", "br0", "up");
      inNs(router, "ip", "link", "set", `${tag}w${i}`, "name", "wan", "up");
      inNs(router, "ip", "addr", "add", `${wan}/24`, "dev", "wan");
      // Router LAN: a veth to the home host.
      sh("ip", "link", "add", `${tag}l${i}`, "type", "veth", "peer", "name", `${tag}h${i}`);
      sh("ip", "link", "set", `${tag}l${i}`, "netns", router);
      sh("ip", "link", "set", `${tag}h${i}`, "netns", host);
      inNs(router, "ip", "link", "set", `${tag}l${i}`, "name", "lan", "up");
      inNs(router, "ip", "addr", "add", `${gw}/26`, "dev", "lan");
      inNs(host, "ip", "link", "set", `${tag}h${i}`, "name", "eth0", "up");
      inNs(host, "ip", "addr", "add", `${addr}/26`, "dev", "eth0");
      inNs(host, "ip", "route", "add", "default", "via", gw);
      inNs(router, "sysctl", "-qw", "net.ipv4.ip_forward=1");
      const masq = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"];
      inNs(router, ...masq, ...(nat === "symmetric" ? ["--random-fully"] : []));
      // A home router lets in only what answers traffic from inside, to the
      // home and to itself. (Were unsolicited packets to the router itself
      // accepted, each would leave a conntrack entry that makes the NAT
      // pick another port for the home's answer to the same address, and
      // a cone NAT would behave like a symmetric one.)
      for (const chain of ["FORWARD", "INPUT"]) {
        inNs(router, "iptables", "-A", chain, "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
        inNs(router, "iptables", "-A", chain, "-i", "wan", "-j", "DROP");
      }
      bed.homes.push({ nat, router, ns: host, addr, wan });
    });
  } catch (e) {
    destroy();
    throw e;
  }
  return bed;
}

/** A wrapper script that runs Chromium inside namespace `ns` (Playwright's pipe crosses it). */
export function chromiumIn(ns) {
  const dir = mkdtempSync(join(tmpdir(), "icn-chromium-"));
  const path = join(dir, "chromium");
  writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * A test CA and a server certificate for `ip` signed by it (openssl), as a
 * public gateway has one from a real CA: { ca, cert, key } are file paths,
 * `spki` the base64 SHA-256 of the certificate's public key, which Chromium
 * trusts with `--ignore-certificate-errors-spki-list` (a visitor's browser
 * trusts the real CA without a flag).
 */
export function testCertificate(ip) {
  const dir = mkdtempSync(join(tmpdir(), "icn-tls-"));
  const at = (f) => join(dir, f);
  const ssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=icn test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  writeFileSync(at("leaf.ext"), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n`
    + `extendedKeyUsage=serverAuth\nsubjectAltName=IP:${ip}\n`);
  ssl("req", ...ec, "-keyout", "gw.key", "-out", "gw.csr", "-subj", `/CN=${ip}`);
  ssl("x509", "-req", "-in", "gw.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "1", "-days", "2",
    "-extfile", "leaf.ext", "-out", "gw.pem");
  const spkiDer = execFileSync("sh", ["-c", "openssl x509 -in gw.pem -pubkey -noout | openssl pkey -pubin -outform der"], { cwd: dir });
  const spki = createHash("sha256").update(spkiDer).digest("base64");
  return { dir, ca: at("ca.pem"), cert: at("gw.pem"), key: at("gw.key"), spki };
}
