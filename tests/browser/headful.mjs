// A visitor's browser with a window (Chromium under Xvfb, in a namespace of
// the test bed), driven through the Chrome DevTools Protocol on a pipe.
//
// Why not Playwright here: a page that Playwright drives stays "visible"
// whatever happens to its tab (measured: a tab behind another one, and a
// window told to minimize, kept `document.visibilityState === "visible"`
// and ran a 100 ms timer 50 times in 5 s), and headless Chromium never hides
// a page at all. The same Chromium driven over bare CDP hides a tab that
// another tab covers and throttles its timers to once a second (5 ticks in
// 5 s), as a visitor's browser does. So the hidden-tab test drives this
// browser itself: a few CDP calls, with a `page.evaluate` like
// Playwright's so the shared helpers work on its tabs.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "./harness.mjs";
import { VISITOR } from "./visitor.mjs";

/** Requests and answers over Chromium's `--remote-debugging-pipe` (fds 3
 *  and 4, messages ended by NUL). */
function cdpPipe(child) {
  const waits = new Map();
  let next = 0;
  let buf = "";
  child.stdio[4].setEncoding("utf8");
  child.stdio[4].on("data", (chunk) => {
    buf += chunk;
    for (let end; (end = buf.indexOf("\0")) >= 0; buf = buf.slice(end + 1)) {
      const msg = JSON.parse(buf.slice(0, end));
      const wait = waits.get(msg.id);
      if (!wait) continue;
      waits.delete(msg.id);
      if (msg.error) wait.reject(new Error(`${wait.method}: ${msg.error.message}`));
      else wait.resolve(msg.result);
    }
  });
  child.once("exit", () => {
    for (const w of waits.values()) w.reject(new Error(`${w.method}: the browser exited`));
    waits.clear();
  });
  return (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = ++next;
    waits.set(id, { resolve, reject, method });
    child.stdio[3].write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
  });
}

/** One tab: `evaluate(fn, arg)` runs `fn(arg)` in it and returns its
 *  (awaited, JSON-able) result, as Playwright's does. */
class Tab {
  constructor(send, targetId, sessionId) {
    Object.assign(this, { send, targetId, sessionId });
  }

  async evaluate(fn, arg) {
    const expression = `(${fn})(${arg === undefined ? "" : JSON.stringify(arg)})`;
    const r = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }, this.sessionId);
    if (r.exceptionDetails) {
      throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    }
    return r.result.value;
  }
}

/**
 * Chromium with a window in namespace `ns`, on an Xvfb display of its own,
 * trusting the certificate of `tls`, its first tab at `url`. Returns
 * `{ tab, cover, uncover, close }`: `cover()` opens a second tab in front of
 * the first (which the browser then hides), `uncover()` brings the first
 * back to the front.
 */
export async function launchHeadfulIn(ns, tls, url) {
  const xvfb = spawn("ip", ["netns", "exec", ns, "Xvfb", "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
    { stdio: ["ignore", "ignore", "ignore", "pipe"] });
  const display = await new Promise((resolve, reject) => {
    xvfb.stdio[3].once("data", (d) => resolve(d.toString().trim()));
    xvfb.once("exit", (code) => reject(new Error(`Xvfb exited with ${code}`)));
  });
  const profile = await mkdtemp(join(tmpdir(), "icn-headful-"));
  const args = [...VISITOR.filter((a) => a !== "--headless"), "--remote-debugging-pipe", `--user-data-dir=${profile}`,
    ...(tls ? [`--ignore-certificate-errors-spki-list=${tls.spki}`] : []), url];
  const chromium = spawn("ip", ["netns", "exec", ns, "/usr/bin/chromium", ...args],
    { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"], env: { ...process.env, DISPLAY: `:${display}` } });
  const send = cdpPipe(chromium);
  const close = async () => {
    chromium.kill("SIGKILL");
    xvfb.kill("SIGKILL");
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const target = await until("the browser's first tab", 30_000, async () =>
      (await send("Target.getTargets")).targetInfos.find((t) => t.type === "page" && t.url.startsWith(url)));
    const { sessionId } = await send("Target.attachToTarget", { targetId: target.targetId, flatten: true });
    const tab = new Tab(send, target.targetId, sessionId);
    // Until its document is the page (not the blank one a new tab starts
    // with), loaded.
    await until("the first tab loaded", 30_000, () => tab.evaluate((url) =>
      location.href.startsWith(url) && document.readyState === "complete", url).catch(() => false));
    let cover;
    return {
      tab,
      close,
      cover: async () => {
        cover = (await send("Target.createTarget", { url: "about:blank" })).targetId;
      },
      uncover: async () => {
        await send("Target.activateTarget", { targetId: target.targetId });
        if (cover) await send("Target.closeTarget", { targetId: cover });
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
