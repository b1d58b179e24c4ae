// Issue 6's mixed ring: 4 headless Chromium peers (2 processes) and 12 native
// peers (`icn swarm`, str0m) behind one gateway. Content published by a
// browser is read by a native peer and the other way round, and both sides
// hold DataChannels to the other kind.
// Needs ICN_BIN (the icn binary).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { startGateway, serveStatic, launch, until } from "./harness.mjs";

test("browsers and native peers share one ring over DataChannels", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const gw = await startGateway();
  const server = await serveStatic();
  const base = `http://127.0.0.1:${server.address().port}/peer.html?gw=${encodeURIComponent(gw.url)}`;
  const browsers = [await launch(), await launch()];
  let swarm;
  try {
    const peers = [];
    for (let i = 0; i < 4; i++) {
      const page = await browsers[i % 2].context.newPage();
      await page.goto(base);
      await page.waitForFunction(() => window.ready === true);
      peers.push({ page, ...(await page.evaluate((ws) => t.join(ws), gw.ws)) });
    }
    const fromBrowser = await peers[0].page.evaluate(() => peer.publish("/mixed/from-browser", new TextEncoder().encode("made in chromium"), {}));

    swarm = spawn(process.env.ICN_BIN, ["swarm", "--gateway", gw.url, "--peers", "12", "--publish", "3",
      "--gets", "30", "--duration", "40", "--seed", "5", "--read", fromBrowser], { stdio: ["ignore", "pipe", "pipe"] });
    const nativeIds = [], nativeNames = [];
    createInterface({ input: swarm.stderr }).on("line", (l) => {
      if (l.startsWith("peer-id ")) nativeIds.push(l.slice(8));
      if (l.startsWith("published-name ")) nativeNames.push(l.slice(15));
    });
    let stdout = "";
    swarm.stdout.on("data", (d) => { stdout += d; });
    const exited = new Promise((r) => swarm.once("exit", r));

    // Browsers read what native peers published, while they run.
    await until("3 objects published by native peers", 60_000, () => nativeNames.length === 3);
    for (const p of peers) {
      const texts = await p.page.evaluate(async (names) => {
        const out = [];
        for (const n of names) out.push(new TextDecoder().decode((await peer.get(n)).content));
        return out;
      }, nativeNames);
      assert.deepEqual(texts, ["swarm object 0", "swarm object 1", "swarm object 2"]);
    }
    // Browsers hold DataChannels to native peers.
    const links = await until("a browser-native DataChannel", 60_000, async () => {
      const all = (await Promise.all(peers.map((p) => p.page.evaluate(() => peer.links())))).flat();
      const n = all.filter((l) => l.transport === "webrtc" && nativeIds.includes(l.nodeId)).length;
      return n > 0 && n;
    });
    console.log(`browser->native webrtc links: ${links}`);

    assert.equal(await exited, 0);
    const r = JSON.parse(stdout.trim().split("\n").pop());
    assert.deepEqual(r.read, [{ name: fromBrowser, ok: true }], "a native peer read the browser's object");
    assert.equal(r.lost_objects, 0);
    assert.equal(r.success_rate, 1);
    const browserIds = peers.map((p) => p.nodeId);
    assert.ok(r.webrtc_peers.some((id) => browserIds.includes(id)), "native peers hold DataChannels to browsers");
    console.log(`swarm: ${stdout.trim()}`);
  } finally {
    if (swarm && swarm.exitCode === null) swarm.kill("SIGKILL");
    for (const b of browsers) await b.close().catch(() => {});
    server.close();
    gw.child.kill("SIGKILL");
  }
});
