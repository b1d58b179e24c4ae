// The browser scenario: 8 peers in 3 Chromium processes join one
// gateway, form a correct ring over WebRTC DataChannels, publish and read
// content (a 10 MiB object among it), reject a forged object, survive a
// graceful leave and a killed browser, and keep working after the gateway
// is stopped, setting up new DataChannels through the ring itself.
// Needs ICN_BIN (the icn binary, which serves the bundle at /pkg/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startGateway, serveStatic, launch, until } from "./harness.mjs";

const BIG = 10 * 1024 * 1024;

/** Every peer's first successor is the next member by id (the gateway included while alive). */
async function ringIsCorrect(peers, extraIds = []) {
  const views = await Promise.all(peers.map((p) => p.page.evaluate(() => peer.ring())));
  const ids = [...views.map((v) => v.id), ...extraIds].sort();
  return views.every((v) => {
    const i = ids.indexOf(v.id);
    return v.successors[0] === ids[(i + 1) % ids.length]
      && v.predecessor === ids[(i + ids.length - 1) % ids.length];
  });
}

// Runs `f`; if it throws, prints every peer's view of the ring first, so a
// failure in CI says which node answered for which range.
async function explained(peers, f) {
  try {
    return await f();
  } catch (e) {
    for (const [i, p] of peers.entries()) {
      const v = await p.page.evaluate(() => peer.ring()).catch((x) => String(x));
      console.log(`ring view of peer ${i}: ${JSON.stringify(v)}`);
    }
    throw e;
  }
}

async function linkCounts(peers) {
  const all = await Promise.all(peers.map((p) => p.page.evaluate(() => peer.links())));
  const count = (t) => all.flat().filter((l) => l.transport === t).length;
  return { all, webrtc: count("webrtc"), websocket: count("websocket"), relay: count("relay") };
}

test("eight browser peers: ring, WebRTC links, content, forgery, leave/kill, gateway stopped", { timeout: 600_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const gw = await startGateway();
  const server = await serveStatic();
  const base = `http://127.0.0.1:${server.address().port}/peer.html?gw=${encodeURIComponent(gw.url)}`;
  // Three browser processes: 4 peers, 3 peers, and 1 peer whose browser gets killed.
  const browsers = [await launch(), await launch(), await launch()];
  const layout = [0, 0, 0, 0, 1, 1, 1, 2];
  const peers = [];
  try {
    for (const [i, b] of layout.entries()) {
      const page = await browsers[b].context.newPage();
      page.on("console", (m) => console.error(`peer ${i}:`, m.text()));
      await page.goto(base);
      await page.waitForFunction(() => window.ready === true);
      const info = await page.evaluate((ws) => t.join(ws), gw.ws);
      peers.push({ page, browser: b, ...info });
    }
    const gwId = (await (await fetch(`${gw.url}/api/ring`)).json()).node;
    await until("a correct ring of 8 peers and the gateway", 60_000, () => ringIsCorrect(peers, [gwId]));

    // Most links are DataChannels: every peer has some, and they outnumber the rest.
    const links = await until("WebRTC links", 60_000, async () => {
      const c = await linkCounts(peers);
      return c.all.every((ls) => ls.some((l) => l.transport === "webrtc")) && c.webrtc > c.websocket + c.relay && c;
    });
    console.log(`links: ${links.webrtc} webrtc, ${links.websocket} websocket, ${links.relay} relay`);

    // Small and 10 MiB content, published in one peer, read by all others and over HTTP.
    const small = await peers[0].page.evaluate(() => peer.publish("/e2e/small", new TextEncoder().encode("hello ring"), { contentType: "text/plain" }));
    assert.equal(small, `/${peers[0].publisherId}/e2e/small`);
    const big = await peers[4].page.evaluate(async (n) => {
      const t0 = performance.now();
      const name = await peer.publish("/e2e/big.bin", t.bytes(n, 42), {});
      return { name, ms: performance.now() - t0 };
    }, BIG);
    console.log(`published 10 MiB in ${Math.round(big.ms)} ms`);
    const bigDigest = await peers[4].page.evaluate((n) => t.digest(t.bytes(n, 42)), BIG);
    for (const [i, p] of peers.entries()) {
      const r = await p.page.evaluate(async ([s, b]) => {
        const a = await peer.get(s);
        const t0 = performance.now();
        const o = await peer.get(b);
        return { text: new TextDecoder().decode(a.content), type: a.contentType, digest: await t.digest(o.content), size: o.content.length, ms: performance.now() - t0 };
      }, [small, big.name]);
      assert.equal(r.text, "hello ring", `peer ${i}`);
      assert.equal(r.type, "text/plain");
      assert.equal(r.size, BIG, `peer ${i}`);
      assert.equal(r.digest, bigDigest, `peer ${i}`);
      console.log(`peer ${i}: 10 MiB get in ${Math.round(r.ms)} ms`);
    }
    const res = await fetch(`${gw.url}/icn${big.name}`);
    assert.equal(res.status, 200);
    assert.equal(createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex"), bigDigest);
    assert.equal(await (await fetch(`${gw.url}/icn${small}`)).text(), "hello ring");

    // A misbehaving peer serves a forged object for a key it owns: rejected.
    const forged = await peers[2].page.evaluate(() => peer.plantForgedObject(new TextEncoder().encode("forged")));
    for (const i of [0, 5, 7]) {
      const err = await peers[i].page.evaluate(async (n) => { try { await peer.get(n); return null; } catch (e) { return e.message; } }, forged);
      assert.match(String(err), /verification failed/, `peer ${i} accepted a forged object`);
    }

    // One peer leaves, one browser is killed: what was published is still there.
    // Leaving a second time does nothing (and resolves).
    await peers[3].page.evaluate(async () => { await peer.leave(); await peer.leave(); });
    browsers[2].process.kill("SIGKILL");
    const live = peers.filter((_, i) => i !== 3 && i !== 7);
    await until("the ring to close over the departed peers", 60_000, () => ringIsCorrect(live, [gwId]));
    for (const p of live) {
      const r = await explained(live, () => p.page.evaluate(async ([s, b]) => {
        const o = await peer.get(b);
        return { text: new TextDecoder().decode((await peer.get(s)).content), digest: await t.digest(o.content) };
      }, [small, big.name]));
      assert.deepEqual(r, { text: "hello ring", digest: bigDigest });
    }

    // The gateway stops; the ring of browsers carries on by itself.
    gw.child.kill("SIGKILL");
    await until("the ring to close without the gateway", 60_000, () => ringIsCorrect(live));
    const after = await live[1].page.evaluate(() => peer.publish("/e2e/after", new TextEncoder().encode("no gateway"), {}));
    for (const p of live) {
      const r = await explained(live, () => p.page.evaluate(async ([a, s]) => [
        new TextDecoder().decode((await peer.get(a)).content),
        new TextDecoder().decode((await peer.get(s)).content),
      ], [after, small]));
      assert.deepEqual(r, ["no gateway", "hello ring"]);
    }
    await live[0].page.evaluate((to) => peer.send(to, new TextEncoder().encode("still here")), live[4].nodeId);
    await until("the routed message", 10_000, () => live[4].page.evaluate(() => t.inbox.some((m) => m.text === "still here")));
    // A new DataChannel between two peers, signaled through the ring: a
    // pair without a link, or else a pair whose link is closed first.
    const counts = await linkCounts(live);
    let pair = [0, 1];
    for (const [i, ls] of counts.all.entries()) {
      const j = live.findIndex((q, k) => k !== i && !ls.some((l) => l.nodeId === q.nodeId));
      if (j >= 0) { pair = [i, j]; break; }
    }
    const [a, b] = pair;
    await live[a].page.evaluate(async (to) => {
      peer.disconnect(to);
      await peer.connect(to);
    }, live[b].nodeId);
    const linked = await live[a].page.evaluate(() => peer.links());
    assert.ok(linked.some((l) => l.nodeId === live[b].nodeId && l.transport === "webrtc"), JSON.stringify(linked));
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    server.close();
    gw.child.kill("SIGKILL");
  }
});
