// Browser benchmarks of issue 5; prints figures, asserts nothing.
//   ICN_BIN=target/release/icn node tests/browser/bench.mjs
// 1. page load -> joined peer (the gateway's demo page), cold and warm;
// 2. get latency of 1 KiB objects on an 8-peer ring (2 Chromium processes);
// 3. 10 MiB get through the ring next to a raw DataChannel between two
//    Chromium processes, measured in the same run;
//    and 10 MiB over `send` between a browser and a native peer (`icn swarm
//    --respond`) next to the same between two browsers;
// 4. bundle size: raw, gzip -9, and as the gateway sends it to a browser
//    (its build-time zopfli gzip).
import { gzipSync } from "node:zlib";
import { get as httpGet } from "node:http";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { startGateway, serveStatic, launch, until } from "./harness.mjs";

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const MiB = 1024 * 1024;
const mbps = (ms) => +((10 * MiB) / 1e6 / (ms / 1000)).toFixed(1);
const gw = await startGateway();
const server = await serveStatic();
const base = `http://127.0.0.1:${server.address().port}/peer.html?gw=${encodeURIComponent(gw.url)}`;
const browsers = [await launch(), await launch()];
const out = {};
let swarm;
try {
  // 1. Page load to joined.
  const loads = [], members = [];
  for (let i = 0; i < 11; i++) {
    const page = await browsers[0].context.newPage();
    await page.goto(gw.url + "/");
    await page.waitForFunction(() => window.memberAt !== undefined, null, { timeout: 30000, polling: 10 });
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const res = performance.getEntriesByType("resource").map((r) => [r.name.split("/").pop(), Math.round(r.startTime), Math.round(r.responseEnd)]);
      return { joined: window.joinedAt, member: window.memberAt, init: window.initAt, dom: nav.domContentLoadedEventEnd, resp: nav.responseEnd, res };
    });
    if (process.env.ICN_BENCH_VERBOSE) console.error(JSON.stringify(m));
    loads.push(m.joined);
    members.push(m.member);
    await page.evaluate(() => peer.leave());
    await page.close();
  }
  out.join_cold_ms = Math.round(loads[0]);
  out.join_warm_p50_ms = Math.round(pct(loads.slice(1), 0.5));
  out.join_warm_max_ms = Math.round(Math.max(...loads.slice(1)));
  out.member_cold_ms = Math.round(members[0]);
  out.member_warm_p50_ms = Math.round(pct(members.slice(1), 0.5));

  // 2. An 8-peer ring: 4 pages in each browser.
  const peers = [];
  for (let i = 0; i < 8; i++) {
    const page = await browsers[i % 2].context.newPage();
    await page.goto(base);
    await page.waitForFunction(() => window.ready === true);
    peers.push({ page, ...(await page.evaluate((ws) => t.join(ws), gw.ws)) });
  }
  await until("WebRTC links on every peer", 60000, async () => {
    const ls = await Promise.all(peers.map((p) => p.page.evaluate(() => peer.links())));
    return ls.every((l) => l.filter((x) => x.transport === "webrtc").length >= 2);
  });
  await new Promise((r) => setTimeout(r, 3000));
  const names = [];
  for (let i = 0; i < 40; i++) {
    names.push(await peers[i % 8].page.evaluate((i) => peer.publish(`/bench/${i}`, t.bytes(1024, i + 1), {}), i));
  }
  const lat = [];
  for (const p of peers) {
    lat.push(...await p.page.evaluate(async (names) => {
      const ms = [];
      for (let k = 0; k < 100; k++) {
        const n = names[(k * 7) % names.length];
        const t0 = performance.now();
        await peer.get(n);
        ms.push(performance.now() - t0);
      }
      return ms;
    }, names));
  }
  out.get_1k_p50_ms = +pct(lat, 0.5).toFixed(2);
  out.get_1k_p99_ms = +pct(lat, 0.99).toFixed(2);
  out.gets = lat.length;

  // 3. 10 MiB through the ring (published in browser 0, read in browser 1) ...
  const big = await peers[0].page.evaluate((n) => peer.publish("/bench/big", t.bytes(n, 9), {}), 10 * MiB);
  const ringMs = [];
  for (let k = 0; k < 3; k++) {
    ringMs.push(await peers[1].page.evaluate(async (n) => { const t0 = performance.now(); await peer.get(n); return performance.now() - t0; }, big));
  }
  // ... and over one raw DataChannel between the same two browser processes.
  const [a, b] = [peers[0].page, peers[1].page];
  const raw = [];
  for (let k = 0; k < 3; k++) {
    const offer = await a.evaluate(async () => {
      window.rawPc = new RTCPeerConnection();
      window.rawDc = rawPc.createDataChannel("raw");
      await rawPc.setLocalDescription(await rawPc.createOffer());
      while (rawPc.iceGatheringState !== "complete") await new Promise((r) => setTimeout(r, 5));
      return rawPc.localDescription.sdp;
    });
    const answer = await b.evaluate(async (sdp) => {
      window.rawPc = new RTCPeerConnection();
      window.rawGot = 0;
      rawPc.ondatachannel = (e) => { e.channel.binaryType = "arraybuffer"; e.channel.onmessage = (m) => { window.rawGot += m.data.byteLength; }; };
      await rawPc.setRemoteDescription({ type: "offer", sdp });
      await rawPc.setLocalDescription(await rawPc.createAnswer());
      while (rawPc.iceGatheringState !== "complete") await new Promise((r) => setTimeout(r, 5));
      return rawPc.localDescription.sdp;
    }, offer);
    await a.evaluate(async (sdp) => {
      await rawPc.setRemoteDescription({ type: "answer", sdp });
      while (rawDc.readyState !== "open") await new Promise((r) => setTimeout(r, 5));
    }, answer);
    const t0 = Date.now();
    await a.evaluate(async (n) => {
      const chunk = new Uint8Array(16 * 1024);
      rawDc.bufferedAmountLowThreshold = 256 * 1024;
      for (let sent = 0; sent < n; sent += chunk.length) {
        if (rawDc.bufferedAmount > 1024 * 1024) await new Promise((r) => { rawDc.onbufferedamountlow = r; });
        rawDc.send(chunk);
      }
    }, 10 * MiB);
    await b.waitForFunction((n) => window.rawGot >= n, 10 * MiB, { timeout: 60000, polling: 5 });
    raw.push(Date.now() - t0);
    await a.evaluate(() => rawPc.close());
    await b.evaluate(() => rawPc.close());
  }
  out.get_10mib_ms = Math.round(pct(ringMs, 0.5));
  out.get_10mib_MBps = mbps(pct(ringMs, 0.5));
  out.raw_dc_10mib_ms = Math.round(pct(raw, 0.5));
  out.raw_dc_MBps = mbps(pct(raw, 0.5));
  out.throughput_ratio = +(pct(raw, 0.5) / pct(ringMs, 0.5)).toFixed(2);

  // 3b. Native peers (`icn swarm --respond`) join the same ring; one browser
  // moves 10 MiB over `send` to and from a native peer and a browser peer
  // it holds DataChannels to, alternately, in the same run.
  swarm = spawn(process.env.ICN_BIN, ["swarm", "--gateway", gw.url, "--peers", "4", "--respond",
    "--duration", "3600", "--settle", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  const nativeIds = [];
  createInterface({ input: swarm.stderr }).on("line", (l) => { if (l.startsWith("peer-id ")) nativeIds.push(l.slice(8)); });
  await until("4 native peers", 60000, () => nativeIds.length === 4);
  await peers[1].page.evaluate(() => t.respond());
  const pair = await until("a browser linked to browser 1 and to a native peer", 60000, async () => {
    for (const p of [peers[0], ...peers.slice(2)]) {
      const l = (await p.page.evaluate(() => peer.links())).filter((x) => x.transport === "webrtc").map((x) => x.nodeId);
      const native = nativeIds.find((id) => l.includes(id));
      if (native && l.includes(peers[1].nodeId)) return { page: p.page, native };
    }
  });
  const flows = { b2b_push: [], b2b_pull: [], b2n_push: [], n2b_pull: [] };
  const flow = async (name, how, to) => {
    const ms = await Promise.race([
      pair.page.evaluate(([how, to, n]) => t[how](to, n), [how, to, 10 * MiB]),
      new Promise((_, no) => setTimeout(() => no(new Error(`${name}: no answer within 60 s`)), 60000)),
    ]);
    if (process.env.ICN_BENCH_VERBOSE) console.error(name, Math.round(ms), "ms");
    flows[name].push(ms);
  };
  for (let k = 0; k < 3; k++) {
    await flow("b2b_push", "push", peers[1].nodeId);
    await flow("b2n_push", "push", pair.native);
    await flow("b2b_pull", "pull", peers[1].nodeId);
    await flow("n2b_pull", "pull", pair.native);
  }
  out.send_browser_to_browser_MBps = mbps(pct(flows.b2b_push, 0.5));
  out.send_browser_to_native_MBps = mbps(pct(flows.b2n_push, 0.5));
  out.send_browser_from_browser_MBps = mbps(pct(flows.b2b_pull, 0.5));
  out.send_browser_from_native_MBps = mbps(pct(flows.n2b_pull, 0.5));

  // 4. Bundle size.
  let rawBytes = 0, gz = 0;
  for (const f of ["icn_web.js", "icn_web_bg.wasm"]) {
    const body = Buffer.from(await (await fetch(`${gw.url}/pkg/${f}`)).arrayBuffer());
    rawBytes += body.length;
    gz += gzipSync(body, { level: 9 }).length;
  }
  out.bundle_raw_bytes = rawBytes;
  out.bundle_gzip_bytes = gz;
  // What a browser downloads: the bytes on the wire, Accept-Encoding as Chromium sends it.
  let served = 0;
  for (const f of ["icn_web.js", "icn_web_bg.wasm"]) {
    served += await new Promise((resolve, reject) => {
      httpGet(`${gw.url}/pkg/${f}`, { headers: { "accept-encoding": "gzip, deflate, br, zstd" } }, (res) => {
        if (res.headers["content-encoding"] !== "gzip") reject(new Error(`${f} was not sent gzipped`));
        let n = 0;
        res.on("data", (c) => { n += c.length; });
        res.on("end", () => resolve(n));
      }).on("error", reject);
    });
  }
  out.bundle_served_gzip_bytes = served;
  console.log(JSON.stringify(out));
} finally {
  if (swarm) swarm.kill("SIGKILL");
  for (const b of browsers) await b.close().catch(() => {});
  server.close();
  gw.child.kill("SIGKILL");
}
