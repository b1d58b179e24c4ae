// Browsers behind NAT routers, as visitors' browsers are (issue 23): each
// home is a network namespace behind its own iptables NAT, the gateway and
// coturn sit on a public segment, and Chromium runs inside the homes with no
// loopback flag, no fake media and no media permission, so its host
// candidates are mDNS names nobody outside can use. Peers in different homes
// must link over WebRTC with the gateway's STUN (cone NAT) or through coturn
// with the credentials the gateway issued (symmetric NAT), and keep
// publishing, getting, messaging and opening DataChannels through the ring
// once the gateway is killed. Native peers (`icn swarm`) in one home link to
// browsers and native peers in another, directly or, behind symmetric NATs,
// through coturn.
//
// The gateway serves https and wss on its public address with a
// certificate from a test CA (issue 24): Chromium trusts that one
// certificate by its key hash (`--ignore-certificate-errors-spki-list`,
// where a visitor's browser would know the CA), the native peers and curl
// by the CA file. Nothing marks the plain-http origin as secure.
// Needs root (namespaces, iptables), ICN_BIN, chromium, coturn and openssl. To see
// inside: ICN_COTURN_LOG=1 prints coturn's verbose log, ICN_SWARM_LOG=FILTER
// the native peers' (a RUST_LOG filter, e.g. icn_gateway::peer=debug).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { buildInternet, inNs, PUBLIC_IP, testCertificate } from "./netns.mjs";
import { until } from "./harness.mjs";
import { crossLinks, fetchIn, launchIn, linksOf, nsSpawn, openPeer, pct, ringIsOne, startCoturn, startGateway } from "./visitor.mjs";


/** One NAT type: two homes, two peers each in one Chromium per home. */
async function natScenario(nat, expected) {
  const bed = buildInternet([nat, nat]);
  const tls = testCertificate(PUBLIC_IP);
  const stop = [() => rm(tls.dir, { recursive: true })];
  try {
    const coturn = await startCoturn(bed.pub);
    stop.push(() => coturn.kill("SIGKILL"));
    const gw = await startGateway(bed.pub, tls);
    stop.push(() => gw.child.kill("SIGKILL"));
    const gwId = (await (await fetchIn(bed.pub, `${gw.url}/api/ring`, tls)).json()).node;
    const browsers = [];
    for (const h of bed.homes) {
      const b = await launchIn(h.ns, tls);
      stop.push(b.close);
      browsers.push(b);
    }
    const peers = [];
    for (const [i, home] of [0, 0, 1, 1].entries()) {
      peers.push(await openPeer(browsers[home], gw, home, `home${home}/peer${i}`));
    }
    await until("one correct ring of 4 peers and the gateway", 60_000, () => ringIsOne(peers, gwId));

    // Every pair of peers in different homes links; none through the gateway.
    const pairs = [];
    for (const a of peers) for (const b of peers) if (a.home < b.home) pairs.push([a, b]);
    for (const [a, b] of pairs) {
      await a.page.evaluate((id) => peer.connect(id), b.nodeId).catch((e) => console.error(`connect ${a.label} -> ${b.label}: ${e.message}`));
    }
    const cross = await until(`every link between homes over ${expected}`, 30_000, async () => {
      const c = await crossLinks(peers);
      const linked = pairs.every(([a, b]) => c.some((l) => l.from === a.label && l.to === b.label));
      return linked && c.every((l) => l.transport === expected) && c;
    }).catch(async (e) => {
      console.error(JSON.stringify(await crossLinks(peers)));
      throw e;
    });
    const share = (t) => cross.filter((l) => l.transport === t).length / cross.length;

    // Content and messages between homes, the gateway still there: 20
    // objects of 1 KiB published in home 0, each read once in home 1 (a
    // read may be answered by a replica anywhere, home 1 included), and
    // 20 round trips of a 1 KiB message routed between the homes.
    const names = [];
    for (let i = 0; i < 20; i++) {
      names.push(await peers[0].page.evaluate((i) => peer.publish(`/nat/kib/${i}`, new Uint8Array(1024).fill(i), {}), i));
    }
    const kib = names[0];
    const gets = await peers[3].page.evaluate(async (names) => {
      const ms = [];
      for (const name of names) {
        const t0 = performance.now();
        const o = await peer.get(name);
        ms.push(performance.now() - t0);
        if (o.content.length !== 1024) throw new Error("wrong content");
      }
      return ms;
    }, names);
    const rtts = await peers[3].page.evaluate(async (to) => {
      const ms = [];
      for (let i = 0; i < 20; i++) {
        const ping = new Uint8Array(1024).fill(46);
        ping.set(new TextEncoder().encode(`ping${i} `));
        const t0 = performance.now();
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no echo")), 5000);
          t.onpong = (text) => { if (text.startsWith(`pong${i} `)) { clearTimeout(timer); resolve(); } };
          peer.send(to, ping);
        });
        ms.push(performance.now() - t0);
      }
      return ms;
    }, peers[0].nodeId);

    // The gateway dies: the homes go on through the ring alone.
    gw.child.kill("SIGKILL");
    await new Promise((r) => gw.child.once("exit", r));
    await until("one ring without the gateway", 30_000, () => ringIsOne(peers, null));
    const name = await peers[2].page.evaluate(() => peer.publish("/nat/after", new TextEncoder().encode("no gateway"), { contentType: "text/plain" }));
    for (const p of peers) {
      const text = await p.page.evaluate(async (n) => new TextDecoder().decode((await peer.get(n)).content), name);
      assert.equal(text, "no gateway", `${p.label} reads what home1 published`);
    }
    const old = await peers[1].page.evaluate(async (n) => (await peer.get(n)).content.length, kib);
    assert.equal(old, 1024, "what was published before the gateway died is still there");
    await peers[1].page.evaluate((to) => peer.send(to, new TextEncoder().encode("across homes")), peers[3].nodeId);
    await until("a message between homes", 10_000, () => peers[3].page.evaluate(() => t.inbox.some((m) => m.text === "across homes")));

    // A new DataChannel between homes, signaled through the ring: the link
    // is closed, then set up again (a first attempt may lose a glare with
    // the ring's own redial; up to three are allowed, and relink_ms says
    // how long it took).
    const [a, b] = [peers[0], peers[2]];
    const relinkMs = await a.page.evaluate(async (id) => {
      peer.disconnect(id);
      if (peer.links().some((l) => l.nodeId === id)) throw new Error("still linked after disconnect");
      const t0 = performance.now();
      for (let i = 0; ; i++) {
        try {
          await peer.connect(id);
          return performance.now() - t0;
        } catch (e) {
          if (i === 2) throw e;
        }
      }
    }, b.nodeId).catch(async (e) => {
      for (const p of peers) console.error("links and ring of", p.label, p.nodeId.slice(0, 4), JSON.stringify(await linksOf(p)), JSON.stringify(await p.page.evaluate(() => peer.ring())));
      throw e;
    });
    await until(`the new link over ${expected}`, 10_000, async () => (await linksOf(a)).some((l) => l.nodeId === b.nodeId && l.transport === expected));

    // The gateway comes back with its data on its address: the browsers
    // connect to it again (wss) and its ring and theirs become one; what
    // was published before, with and without it, it serves again.
    const again = await startGateway(bed.pub, tls, gw);
    stop.push(() => again.child.kill("SIGKILL"));
    const restarted = Date.now();
    await until("one ring with the restarted gateway", 60_000, async () =>
      (await (await fetchIn(bed.pub, `${again.url}/api/ring`, tls)).json()).joined && ringIsOne(peers, gwId));
    const rejoinMs = Date.now() - restarted;
    for (const n of [kib, name]) {
      const body = inNs(bed.pub, "curl", "-sf", "--cacert", tls.ca, `${again.url}/icn${n}`);
      assert.ok(body.length > 0, `the restarted gateway serves ${n}`);
    }

    const figures = {
      nat, peers: peers.length, cross_links: cross.length,
      direct: share("webrtc"), turn: share("turn"), relay: share("relay"),
      join_ms_p50: pct(peers.map((p) => p.ms), 0.5), join_ms_max: Math.max(...peers.map((p) => p.ms)),
      get_1kib_ms_p50: pct(gets, 0.5), get_1kib_ms_p90: pct(gets, 0.9),
      message_rtt_1kib_ms_p50: pct(rtts, 0.5), message_rtt_1kib_ms_p90: pct(rtts, 0.9),
      relink_ms: relinkMs, gateway_restart_one_ring_ms: rejoinMs,
    };
    console.log(`nat figures: ${JSON.stringify(figures)}`);

  } finally {
    for (const f of stop.reverse()) await Promise.resolve().then(f).catch(() => {});
    bed.destroy();
  }
}

test("https on a public address: the demo page joins over wss, icn publish --ca-cert from a home; over plain http the page says it needs https", { timeout: 180_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const bed = buildInternet(["cone"]);
  const tls = testCertificate(PUBLIC_IP);
  const stop = [() => rm(tls.dir, { recursive: true })];
  try {
    const gw = await startGateway(bed.pub, tls);
    const plain = await startGateway(bed.pub, null);
    stop.push(() => gw.child.kill("SIGKILL"), () => plain.child.kill("SIGKILL"));
    assert.match(gw.url, /^https:\/\/203\.0\.113\.1:/);
    assert.match(plain.url, /^http:\/\/203\.0\.113\.1:/);
    const home = bed.homes[0].ns;
    const browser = await launchIn(home, tls);
    stop.push(browser.close);

    // The demo page as a visitor opens it: page, bundle and /ws over TLS.
    const page = await browser.context.newPage();
    page.on("console", (m) => { if (m.type() === "error") console.error("https page:", m.text()); });
    await page.goto(`${gw.url}/`);
    await until("the demo page joined over wss", 30_000, async () => /^joined in/.test(await page.textContent("#status")));
    assert.equal(await page.evaluate(() => window.isSecureContext), true);

    // The signing CLI from the home, trusting the test CA.
    const key = join(tls.dir, "publisher.key");
    execFileSync(process.env.ICN_BIN, ["keygen", "--out", key]);
    const file = join(tls.dir, "hello.txt");
    await writeFile(file, "hello over https");
    const icn = (...args) => inNs(home, process.env.ICN_BIN, ...args);
    const name = icn("publish", "--gateway", gw.url, "--ca-cert", tls.ca, "--key", key, "--name", "/tls/hello",
      "--in", file).split("\n")[0];
    const text = await page.evaluate(async (n) => new TextDecoder().decode((await peer.get(n)).content), name);
    assert.equal(text, "hello over https", "the page reads what the CLI published over https");
    const back = icn("get", "--gateway", gw.url, "--ca-cert", tls.ca, name);
    assert.equal(back, "hello over https");
    // Without the test CA the CLI refuses the certificate, and says how to trust it.
    assert.throws(() => icn("get", "--gateway", gw.url, name), /--ca-cert/);

    // The same page over plain http on the same address: no WebCrypto
    // there, and the page and Peer.join say so plainly.
    const insecure = await browser.context.newPage();
    await insecure.goto(`${plain.url}/`);
    await until("the plain-http page says it needs https", 20_000, async () => /could not join/.test(await insecure.textContent("#status")));
    assert.match(await insecure.textContent("#status"), /needs a secure context: open this page over https/);
    const refused = await insecure.evaluate(async (ws) => {
      const { default: init, Peer } = await import("/pkg/icn_web.js");
      await init();
      return Peer.join(ws).then(() => "joined", (e) => e.message);
    }, plain.ws);
    assert.match(refused, /needs a secure context/);
  } finally {
    for (const f of stop.reverse()) await Promise.resolve().then(f).catch(() => {});
    bed.destroy();
  }
});


test("cone NAT: browsers in two homes link directly (STUN), and work on without the gateway", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await natScenario("cone", "webrtc");
});

test("symmetric NAT: browsers in two homes link through coturn (gateway-issued credentials), and work on without the gateway", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await natScenario("symmetric", "turn");
});

/** Runs `icn swarm` in namespace `ns`: `ids` as they join, `settled` when it
 *  starts measuring, `done` with its report when it ends. */
function swarmIn(ns, gw, peers, seconds, seed, tls, extra = []) {
  const child = nsSpawn(ns, process.env.ICN_BIN, ["swarm", "--gateway", gw.url, "--peers", String(peers),
    "--settle", String(seconds), "--duration", "1", "--seed", String(seed), ...extra],
  { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ICN_CA_CERT: tls.ca, RUST_LOG: process.env.ICN_SWARM_LOG || "warn" } });
  const ids = [];
  let out = "";
  let measuring;
  const settled = new Promise((r) => { measuring = r; });
  createInterface({ input: child.stderr }).on("line", (l) => {
    const m = /^peer-id ([0-9a-f]{64})$/.exec(l);
    if (m) ids.push(m[1]);
    else if (l === "measuring") measuring();
    else if (process.env.ICN_SWARM_LOG) console.error(`${ns}: ${l}`);
  });
  child.stdout.on("data", (d) => { out += d; });
  const done = new Promise((resolve, reject) => child.once("exit", (code) => (code === 0
    ? resolve(JSON.parse(out.trim().split("\n").pop()))
    : reject(new Error(`swarm in ${ns} exited with ${code}`)))));
  return { child, ids, done, settled };
}

test("native peers: icn swarm in one home links to browsers in another, and to native peers across homes", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await nativeScenario("cone", "webrtc");
});

test("native peers behind symmetric NAT link through coturn (gateway-issued credentials), to browsers and across homes", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await nativeScenario("symmetric", "turn");
});

/** Native peers in two homes behind `nat`, browsers in the first; links
 *  between homes must be of kind `expected` ("webrtc" or "turn"). */
async function nativeScenario(nat, expected) {
  const bed = buildInternet([nat, nat]);
  const tls = testCertificate(PUBLIC_IP);
  const stop = [() => rm(tls.dir, { recursive: true })];
  try {
    if (nat === "symmetric") {
      const coturn = await startCoturn(bed.pub);
      stop.push(() => coturn.kill("SIGKILL"));
    }
    const gw = await startGateway(bed.pub, tls);
    stop.push(() => gw.child.kill("SIGKILL"));
    const browser = await launchIn(bed.homes[0].ns, tls);
    stop.push(browser.close);
    const b = [await openPeer(browser, gw, 0, "home0/browser0"), await openPeer(browser, gw, 0, "home0/browser1")];
    // Three native peers in home 1 (up about 30 s), two in home 0 (up
    // longer, so that home 1's report sees them).
    const far = swarmIn(bed.homes[1].ns, gw, 3, 30, 1, tls);
    const near = swarmIn(bed.homes[0].ns, gw, 2, 40, 2, tls);
    stop.push(() => far.child.kill("SIGKILL"), () => near.child.kill("SIGKILL"));
    await until("both swarms joined", 60_000, () => far.ids.length === 3 && near.ids.length === 2);
    // Each browser links to each native peer of the other home.
    for (const p of b) {
      for (const id of far.ids) {
        await p.page.evaluate((to) => peer.connect(to), id).catch((e) => console.error(`connect ${p.label} -> ${id}: ${e.message}`));
      }
    }
    const kinds = await until(`browser links to every native peer of home 1 over ${expected}`, 30_000, async () => {
      const all = (await Promise.all(b.map(linksOf))).flat().filter((l) => far.ids.includes(l.nodeId));
      return all.length === b.length * far.ids.length && all.every((l) => l.transport === expected) && all;
    });
    assert.equal(kinds.length, 6);
    // The swarms report their links when they end.
    const [farResult, nearResult] = await Promise.all([far.done, near.done]);
    const crossNative = near.ids.filter((id) => farResult.webrtc_peers.includes(id));
    console.log(`native figures (${nat}): ${JSON.stringify({ far_links_webrtc: farResult.links_webrtc, far_links_turn: farResult.links_turn, far_links_relayed: farResult.links_relayed, near_links_webrtc: nearResult.links_webrtc, near_links_turn: nearResult.links_turn, near_links_relayed: nearResult.links_relayed, relay_settle_ms: [farResult.relay_settle_ms, nearResult.relay_settle_ms], cross_home_native_pairs_linked: crossNative.length })}`);
    assert.ok(crossNative.length > 0, "native peers of home 1 link to native peers of home 0 over DataChannels");
    assert.equal(farResult.links_relayed + nearResult.links_relayed, 0, "no native link is left on the gateway's relay");
    if (expected === "turn") {
      // Home 1's report comes while home 0's peers still run (home 0's
      // comes after home 1's peers left).
      assert.ok(farResult.links_turn > 0, "native links between homes go through TURN");
    } else {
      assert.equal(farResult.links_turn + nearResult.links_turn, 0, "no TURN where STUN suffices");
    }
  } finally {
    for (const f of stop.reverse()) await Promise.resolve().then(f).catch(() => {});
    bed.destroy();
  }
}

test("a partition between a home and the rest heals into one ring (native peers), with nothing lost", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const bed = buildInternet(["cone", "cone"]);
  const tls = testCertificate(PUBLIC_IP);
  const stop = [() => rm(tls.dir, { recursive: true })];
  try {
    const gw = await startGateway(bed.pub, tls);
    stop.push(() => gw.child.kill("SIGKILL"));
    // Published before the partition, from home 0 over https.
    const key = join(tls.dir, "publisher.key");
    execFileSync(process.env.ICN_BIN, ["keygen", "--out", key]);
    const file = join(tls.dir, "before.txt");
    await writeFile(file, "published before the partition");
    const name = inNs(bed.homes[0].ns, process.env.ICN_BIN, "publish", "--gateway", gw.url, "--ca-cert", tls.ca,
      "--key", key, "--name", "/partition/before", "--in", file).split("\n")[0];
    // Three native peers in each home, up for 150 s; home 1 reads the name
    // at the end, and both report every peer's ring pointers.
    const near = swarmIn(bed.homes[0].ns, gw, 3, 150, 3, tls);
    const far = swarmIn(bed.homes[1].ns, gw, 3, 150, 4, tls, ["--read", name]);
    stop.push(() => far.child.kill("SIGKILL"), () => near.child.kill("SIGKILL"));
    await until("both swarms joined", 60_000, () => far.ids.length === 3 && near.ids.length === 3);
    await new Promise((r) => setTimeout(r, 5_000));
    // Home 1 is cut off for 45 s: its peers form a ring of their own, the
    // gateway and home 0 another.
    const wan = ["ip", "link", "set", "wan"];
    inNs(bed.homes[1].router, ...wan, "down");
    await new Promise((r) => setTimeout(r, 45_000));
    inNs(bed.homes[1].router, ...wan, "up");
    const healed = Date.now();
    const gwId = (await (await fetchIn(bed.pub, `${gw.url}/api/ring`, tls)).json()).node;
    // When the swarms report (about 150 s after they joined), one ring:
    // the gateway's view is taken as they start measuring, a second before
    // they report their peers' (and leave, which the gateway would see).
    await Promise.all([near.settled, far.settled]);
    const gwView = await (await fetchIn(bed.pub, `${gw.url}/api/ring`, tls)).json();
    const [n, f] = await Promise.all([near.done, far.done]);
    const views = [...n.ring, ...f.ring, { id: gwId, successor: gwView.successors[0], predecessor: gwView.predecessor, joined: gwView.joined }];
    const ids = views.map((v) => v.id).sort();
    const wrong = views.filter((v) => {
      const i = ids.indexOf(v.id);
      return !v.joined || v.successor !== ids[(i + 1) % ids.length] || v.predecessor !== ids[(i + ids.length - 1) % ids.length];
    });
    console.log(`partition figures: ${JSON.stringify({ nodes: views.length, wrong: wrong.length, reported_s_after_heal: Math.round((Date.now() - healed) / 1000), far_presumed_dead: f.presumed_dead, read_before: f.read })}`);
    if (wrong.length) console.error("ring views:", JSON.stringify(views), "gateway:", JSON.stringify(gwView));
    assert.deepEqual(wrong, [], "every node's successor and predecessor are its neighbours in one ring");
    assert.deepEqual(f.read, [{ name, ok: true }], "home 1 reads what was published before the partition");
    assert.equal(n.lost_objects + f.lost_objects, 0);
  } finally {
    for (const f of stop.reverse()) await Promise.resolve().then(f).catch(() => {});
    bed.destroy();
  }
});
