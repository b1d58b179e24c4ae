// The pieces of the visitor tests (nat.test.mjs, lifecycle.test.mjs): a
// gateway and coturn on the public segment of the namespace test bed
// (netns.mjs), Chromium in a home as a visitor's browser (no loopback flag,
// no fake media, no media permission; the gateway's test certificate
// trusted by its key hash), and the test page's setup.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { buildInternet, chromiumIn, inNs, PUBLIC_IP, testCertificate } from "./netns.mjs";
import { until } from "./harness.mjs";

export const SECRET = "icn-test-turn-secret";
export const VISITOR = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export function nsSpawn(ns, cmd, args, opts = {}) {
  return spawn("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

export async function startCoturn(ns) {
  const child = nsSpawn(ns, "turnserver", ["-n", "--listening-ip", PUBLIC_IP, "--relay-ip", PUBLIC_IP,
    "--listening-port", "3478", "--use-auth-secret", "--static-auth-secret", SECRET, "--realm", "icn.test",
    "--no-tls", "--no-dtls", "--no-cli", "--min-port", "49152", "--max-port", "49999",
    "--log-file", "stdout", "--simple-log", ...(process.env.ICN_COTURN_LOG ? ["-V"] : []), "--pidfile", join(tmpdir(), `icn-coturn-${process.pid}.pid`)],
  { stdio: ["ignore", process.env.ICN_COTURN_LOG ? "inherit" : "ignore", "inherit"] });
  await until("coturn listening", 10_000, () => inNs(ns, "ss", "-uln").includes(`${PUBLIC_IP}:3478`));
  return child;
}

/** The gateway on the public segment: https with `tls` (from
 *  testCertificate), plain http without; `again` (an earlier gateway's
 *  { data, url }) restarts that one on its address with its data. */
export async function startGateway(ns, tls, again) {
  const data = again?.data ?? await mkdtemp(join(tmpdir(), "icn-nat-"));
  const listen = again ? new URL(again.url).host : `${PUBLIC_IP}:0`;
  const secret = join(data, "turn-secret");
  await writeFile(secret, `${SECRET}\n`);
  const child = nsSpawn(ns, process.env.ICN_BIN, ["gateway", "--listen", listen, "--data", data,
    "--turn", `turn:${PUBLIC_IP}:3478`, "--turn-secret-file", secret,
    ...(tls ? ["--tls-cert", tls.cert, "--tls-key", tls.key] : [])],
  { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  const url = line.trim().split(" ").pop();
  return { child, url, data, ws: url.replace(/^http/, "ws") + "/ws" };
}

// What a test page needs, loaded into any page of the gateway's origin.
export const SETUP = async () => {
  const { default: init, Peer } = await import("/pkg/icn_web.js");
  await init();
  window.t = {
    inbox: [],
    async join(ws) {
      const t0 = performance.now();
      const peer = await Peer.join(ws);
      const ms = performance.now() - t0;
      peer.onmessage = (from, bytes) => {
        const text = new TextDecoder().decode(bytes);
        if (text.startsWith("ping")) { // echoed as pong, for round trips
          const pong = bytes.slice();
          pong.set(new TextEncoder().encode("pong"));
          peer.send(from, pong);
        } else if (text.startsWith("pong")) window.t.onpong?.(text);
        else window.t.inbox.push({ from, text });
      };
      window.peer = peer;
      return { nodeId: peer.nodeId, publisherId: peer.publisherId, ms };
    },
  };
};

/** Chromium in namespace `ns`, trusting the certificate of `tls` (if any). */
export async function launchIn(ns, tls) {
  const server = await chromium.launchServer({ executablePath: chromiumIn(ns),
    args: [...VISITOR, ...(tls ? [`--ignore-certificate-errors-spki-list=${tls.spki}`] : [])] });
  const browser = await chromium.connect(server.wsEndpoint());
  const context = await browser.newContext(); // no permissions: a visitor's browser
  return { context, close: () => browser.close().then(() => server.close()) };
}

export async function openPeer(browser, gw, home, label) {
  const page = await browser.context.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.error(`${label}:`, m.text()); });
  await page.goto(`${gw.url}/healthz`);
  await page.evaluate(SETUP);
  const info = await page.evaluate((ws) => t.join(ws), gw.ws);
  return { page, home, label, ...info };
}

export const linksOf = (p) => p.page.evaluate(() => peer.links());

/** The transport of every link between peers of different homes, from each end. */
export async function crossLinks(peers) {
  const out = [];
  for (const p of peers) {
    for (const l of await linksOf(p)) {
      const q = peers.find((x) => x.nodeId === l.nodeId);
      if (q && q.home !== p.home) out.push({ from: p.label, to: q.label, transport: l.transport });
    }
  }
  return out;
}

export async function ringIsOne(peers, gwId) {
  const views = await Promise.all(peers.map((p) => p.page.evaluate(() => peer.ring())));
  const ids = [...views.map((v) => v.id), ...(gwId ? [gwId] : [])].sort();
  return views.every((v) => {
    const i = ids.indexOf(v.id);
    return v.successors[0] === ids[(i + 1) % ids.length] && v.predecessor === ids[(i + ids.length - 1) % ids.length];
  });
}

/** Peers presumed dead so far, summed over `peers` (`ring().presumedDead`). */
export const presumedDeaths = async (peers) =>
  (await Promise.all(peers.map((p) => p.page.evaluate(() => peer.ring().presumedDead)))).reduce((a, b) => a + b, 0);

export const pct = (xs, q) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** fetch() from inside a namespace: curl there (trusting the CA of `tls`), as a Response-like. */
export async function fetchIn(ns, url, tls) {
  const body = inNs(ns, "curl", "-sf", ...(tls ? ["--cacert", tls.ca] : []), url);
  return { json: async () => JSON.parse(body) };
}

/**
 * Runs `body({ bed, tls, gw, gwId, browser, stop })` on a new test bed with
 * one home behind a cone NAT, the gateway on https (a test CA's
 * certificate) and headless Chromium in the home. `body` may push more
 * clean-up steps on `stop`; they run in reverse, and the bed is removed,
 * however `body` ends.
 */
export async function withVisitorBed(body) {
  const bed = buildInternet(["cone"]);
  const tls = testCertificate(PUBLIC_IP);
  const stop = [() => rm(tls.dir, { recursive: true })];
  try {
    const gw = await startGateway(bed.pub, tls);
    stop.push(() => gw.child.kill("SIGKILL"));
    const gwId = (await (await fetchIn(bed.pub, `${gw.url}/api/ring`, tls)).json()).node;
    const browser = await launchIn(bed.homes[0].ns, tls);
    stop.push(browser.close);
    return await body({ bed, tls, gw, gwId, browser, stop });
  } finally {
    for (const f of stop.reverse()) await Promise.resolve().then(f).catch(() => {});
    bed.destroy();
  }
}
