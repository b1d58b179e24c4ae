// Tabs that browsers freeze (issue 24): a visitor's peer whose tab is frozen
// for 60 s (Chrome DevTools Protocol: `Page.setWebLifecycleState`, as Chrome
// freezes background tabs, and a debugger pause, which headless Chromium
// needs to actually stop the page) and then woken. The other peers keep serving
// gets throughout, the frozen one is a working member again soon after
// waking, and its freeze does not make the others presume each other dead
// (spec/ring.md, "Throttled and frozen peers"). On the namespace test bed,
// as a visitor's browser: https, no loopback flag, no media permission.
// Needs root, ICN_BIN, chromium and openssl.
import { test } from "node:test";
import assert from "node:assert/strict";
import { until } from "./harness.mjs";
import { openPeer, pct, presumedDeaths, ringIsOne, withVisitorBed } from "./visitor.mjs";

const FROZEN_MS = 60_000;

test("a tab frozen for 60 s: the others serve throughout, it serves again soon after waking", { timeout: 300_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await withVisitorBed(async ({ gw, gwId, browser }) => {
    const peers = [];
    for (let i = 0; i < 5; i++) peers.push(await openPeer(browser, gw, 0, `peer${i}`));
    await until("one ring of 5 peers and the gateway", 60_000, () => ringIsOne(peers, gwId));
    const names = [];
    for (let i = 0; i < 10; i++) {
      names.push(await peers[0].page.evaluate((i) => peer.publish(`/frozen/${i}`, new Uint8Array(512).fill(i), {}), i));
    }
    const [frozen, ...others] = [peers[2], peers[0], peers[1], peers[3], peers[4]];
    const othersBefore = await presumedDeaths(others);
    // Who took whom for dead, and when (ms after the freeze): printed with
    // the figures, so that a count over the bound names its peers.
    const label = (id) => peers.find((p) => p.nodeId === id)?.label ?? (id === gwId ? "gateway" : id.slice(0, 8));
    const timeline = [];
    const last = new Map();
    const watchDeaths = async () => {
      for (const p of others) {
        const r = await p.page.evaluate(() => { const r = peer.ring(); return { dead: r.presumedDead, lost: r.lost }; });
        const before = last.get(p) ?? r;
        if (r.dead > before.dead) {
          timeline.push({ at: Date.now() - frozenAt, by: p.label, deaths: r.dead - before.dead,
            lost: r.lost.filter((x) => !before.lost.includes(x)).map(label) });
        }
        last.set(p, r);
      }
    };
    let frozenAt = Date.now();
    await watchDeaths();

    // A timer in the page shows the freeze: it stands still.
    await frozen.page.evaluate(() => { window.ticks = 0; setInterval(() => window.ticks++, 100); });
    const ticksAtFreeze = await frozen.page.evaluate(() => window.ticks);
    const cdp = await browser.context.newCDPSession(frozen.page);
    // `Page.setWebLifecycleState` is what Chrome does to a background tab,
    // but headless Chromium keeps running the page's timers and handlers
    // after it (measured: 20 ticks of a 100 ms timer in 2 s "frozen").
    // Pausing the page's JavaScript stops both, as a frozen tab is stopped.
    await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
    await cdp.send("Debugger.enable");
    await cdp.send("Debugger.pause");
    frozenAt = Date.now();
    // Every 500 ms one of the others reads a name: all of them answer.
    const gets = [];
    let failed = 0;
    for (let i = 0; Date.now() - frozenAt < FROZEN_MS; i++) {
      const p = others[i % others.length];
      const t0 = Date.now();
      const ok = await p.page.evaluate(async (n) => (await peer.get(n)).content.length === 512, names[i % names.length])
        .catch(() => false);
      if (ok) gets.push(Date.now() - t0); else failed++;
      await watchDeaths();
      await new Promise((r) => setTimeout(r, 500));
    }
    await cdp.send("Debugger.resume");
    await cdp.send("Page.setWebLifecycleState", { state: "active" });
    const ticksWhileFrozen = (await frozen.page.evaluate(() => window.ticks)) - ticksAtFreeze;
    const wokenAt = Date.now();
    // Woken: it reads and serves again, and the ring is whole.
    await until("the woken peer reads a name", 30_000, () => frozen.page.evaluate(async (n) =>
      (await peer.get(n).catch(() => null))?.content.length === 512, names[3]));
    const readsMs = Date.now() - wokenAt;
    await until("one ring again, with the woken peer", 60_000, async () => {
      await watchDeaths();
      return ringIsOne(peers, gwId);
    });
    const ringMs = Date.now() - wokenAt;
    // Deaths that come late, while the woken peer catches up.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await watchDeaths();
    }
    const othersDeaths = (await presumedDeaths(others)) - othersBefore;
    const figures = {
      frozen_ms: FROZEN_MS, gets_during: gets.length, failed_during: failed,
      get_ms_p50: pct(gets, 0.5), get_ms_max: Math.max(...gets),
      woken_reads_ms: readsMs, woken_one_ring_ms: ringMs,
      others_presumed_dead: othersDeaths, woken_presumed_dead: await presumedDeaths([frozen]),
      page_ticks_while_frozen: ticksWhileFrozen,
    };
    console.log(`lifecycle figures: ${JSON.stringify(figures)}`);
    console.log(`lifecycle deaths (ms after the freeze; woken at ${wokenAt - frozenAt}): ${JSON.stringify(timeline)}`);
    // Not running, a 100 ms timer would have ticked 600 times.
    assert.ok(ticksWhileFrozen < 30, `the page's timers stood still (${ticksWhileFrozen} ticks)`);
    assert.equal(failed, 0, "every get of the others succeeded while a peer was frozen");
    // Each of the others takes the frozen peer for dead once: its lost-list
    // tries while it sleeps are no new deaths (a relay link to it that comes
    // up is no sign of life). Measured: 4 or 5 (one each, and once a live
    // peer taken for dead at the moment of the freeze); a storm of deaths
    // would be many times that, as the 12-13 counted while relay links
    // still passed for contact.
    const frozenDeaths = timeline.filter((e) => e.lost.includes(frozen.label)).reduce((a, e) => a + e.deaths, 0);
    assert.ok(frozenDeaths <= others.length, `deaths of the frozen peer: ${frozenDeaths}`);
    assert.ok(othersDeaths <= others.length + 2, `presumed deaths among the others: ${othersDeaths}`);
  });
});
