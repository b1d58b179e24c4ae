// A visitor's tab in the background for 5 minutes (issue 24): a peer whose
// tab another tab covers, so that the browser hides it and throttles its
// timers, stays a member; the other peers keep serving gets throughout, and
// the hidden one reads while hidden (spec/ring.md, "Throttled and frozen
// peers"). The hidden peer runs in Chromium with a window (Xvfb), driven
// over bare CDP (headful.mjs says why); the others in headless Chromium. On
// the namespace test bed, as a visitor's browser: https, no loopback flag,
// no media permission. Needs root, ICN_BIN, chromium, Xvfb and openssl.
import { test } from "node:test";
import assert from "node:assert/strict";
import { until } from "./harness.mjs";
import { launchHeadfulIn } from "./headful.mjs";
import { openPeer, pct, presumedDeaths, ringIsOne, SETUP, withVisitorBed } from "./visitor.mjs";

const HIDDEN_MS = 5 * 60_000;

test("a tab hidden for 5 minutes stays a member, and the others serve throughout", { timeout: 600_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  await withVisitorBed(async ({ bed, tls, gw, gwId, browser, stop }) => {
    const others = [];
    for (let i = 0; i < 4; i++) others.push(await openPeer(browser, gw, 0, `peer${i}`));
    const head = await launchHeadfulIn(bed.homes[0].ns, tls, `${gw.url}/healthz`);
    stop.push(head.close);
    await head.tab.evaluate(SETUP);
    const hidden = { page: head.tab, home: 0, label: "hidden", ...await head.tab.evaluate((ws) => t.join(ws), gw.ws) };
    const peers = [...others, hidden];
    await until("one ring of 5 peers and the gateway", 60_000, () => ringIsOne(peers, gwId));
    const names = [];
    for (let i = 0; i < 10; i++) {
      names.push(await others[0].page.evaluate((i) => peer.publish(`/hidden/${i}`, new Uint8Array(512).fill(i), {}), i));
    }
    const read = (p, n) => p.page.evaluate(async (n) => (await peer.get(n)).content.length === 512, n).catch(() => false);
    const othersBefore = await presumedDeaths(others);
    const hiddenBefore = await presumedDeaths([hidden]);

    // A 100 ms timer in the page shows the throttling: visible, it ticks
    // 10 times a second.
    await head.tab.evaluate(() => { window.ticks = 0; setInterval(() => window.ticks++, 100); });
    await head.cover();
    await until("the tab hidden", 10_000, () => head.tab.evaluate(() => document.visibilityState === "hidden"));
    const ticksAt = await head.tab.evaluate(() => window.ticks);
    const hiddenAt = Date.now();
    // Every 500 ms one of the others reads a name; every 5 s the hidden
    // peer is asked whether it is a member and reads one itself.
    const gets = [];
    let failed = 0;
    const checks = { times: 0, notMember: 0, visible: 0, reads: [], readsFailed: 0 };
    for (let i = 0; Date.now() - hiddenAt < HIDDEN_MS; i++) {
      const p = others[i % others.length];
      const t0 = Date.now();
      if (await read(p, names[i % names.length])) gets.push(Date.now() - t0); else failed++;
      if (i % 10 === 0) {
        checks.times++;
        if (!await head.tab.evaluate(() => peer.joined)) checks.notMember++;
        if (await head.tab.evaluate(() => document.visibilityState) !== "hidden") checks.visible++;
        const h0 = Date.now();
        if (await read(hidden, names[(i / 10) % names.length])) checks.reads.push(Date.now() - h0); else checks.readsFailed++;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const hiddenMs = Date.now() - hiddenAt;
    const ticks = (await head.tab.evaluate(() => window.ticks)) - ticksAt;
    const othersDeaths = (await presumedDeaths(others)) - othersBefore;
    const hiddenDeaths = (await presumedDeaths([hidden])) - hiddenBefore;
    await head.uncover();
    await until("the tab visible again", 10_000, () => head.tab.evaluate(() => document.visibilityState === "visible"));
    const shownAt = Date.now();
    await until("one ring, with the peer that was hidden", 30_000, () => ringIsOne(peers, gwId));
    const figures = {
      hidden_ms: hiddenMs, gets_during: gets.length, failed_during: failed,
      get_ms_p50: pct(gets, 0.5), get_ms_max: Math.max(...gets),
      hidden_checks: checks.times, hidden_not_member: checks.notMember, hidden_visible: checks.visible,
      hidden_reads: checks.reads.length, hidden_reads_failed: checks.readsFailed,
      hidden_read_ms_p50: pct(checks.reads, 0.5), hidden_read_ms_max: Math.max(...checks.reads),
      others_presumed_dead: othersDeaths, hidden_presumed_dead: hiddenDeaths,
      page_ticks_while_hidden: ticks, one_ring_after_shown_ms: Date.now() - shownAt,
    };
    console.log(`hidden figures: ${JSON.stringify(figures)}`);
    // The browser did hide the page: its 100 ms timer ran about once a
    // second (3,000 ticks unthrottled).
    assert.equal(checks.visible, 0, "the page stayed hidden");
    assert.ok(ticks < hiddenMs / 100 / 3, `the page's timers were throttled (${ticks} ticks)`);
    assert.equal(failed, 0, "every get of the others succeeded while a peer was hidden");
    assert.equal(checks.notMember, 0, "the hidden peer stayed a member");
    assert.equal(checks.readsFailed, 0, "the hidden peer read every name it asked for");
    assert.equal(othersDeaths + hiddenDeaths, 0, "nobody was taken for dead");
  });
});
