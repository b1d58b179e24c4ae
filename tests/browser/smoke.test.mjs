// Two wasm peers in headless Chromium join a real gateway over /ws, publish,
// get, and route a message; the gateway serves what they published.
// Needs ICN_BIN (the icn binary, which serves the bundle at /pkg/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startGateway, serveStatic, launch } from "./harness.mjs";

test("browser peers join through the gateway, publish, get and message", async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const gw = await startGateway();
  const server = await serveStatic();
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    page.on("console", (m) => console.error("console:", m.text()));
    const ws = gw.ws;
    await page.goto(`http://127.0.0.1:${server.address().port}/smoke.html?gw=${encodeURIComponent(ws)}&http=${encodeURIComponent(gw.url)}`);
    await page.waitForFunction(() => document.getElementById("out").textContent !== "pending", null, { timeout: 60000 });
    const r = JSON.parse(await page.textContent("#out"));
    assert.equal(r.ok, true, r.error);
    assert.equal(r.content, "hello from the browser");
    assert.equal(r.contentType, "text/plain");
    assert.equal(r.publisherId, r.aPublisher);
    assert.equal(r.name, `/${r.aPublisher}/smoke/hello`);
    assert.match(r.aNode, /^[0-9a-f]{64}$/);
    assert.notEqual(r.aNode, r.bNode);
    assert.deepEqual(r.message, { from: r.aNode, text: "ping" });
    assert.ok(r.links.some((l) => l.transport === "websocket"), JSON.stringify(r.links));
    assert.match(r.badName, /not allowed/);
    assert.match(r.notFound, /not found/);
    // What the browser published is served over HTTP, verified by the gateway.
    const res = await fetch(`${gw.url}/icn${r.name}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello from the browser");
    console.log(`join time ${r.joinMs} ms`);
  } finally {
    await browser.close();
    server.close();
    gw.child.kill();
  }
});

test("the gateway's demo page joins by itself, publishes and shows what it gets", async () => {
  const gw = await startGateway();
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    page.on("console", (m) => console.error("demo:", m.text()));
    // Everything comes from the gateway: the page, the JS and the wasm.
    const js = await fetch(`${gw.url}/pkg/icn_web.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type"), /javascript/);
    const etag = js.headers.get("etag");
    assert.equal((await fetch(`${gw.url}/pkg/icn_web.js`, { headers: { "if-none-match": etag } })).status, 304);
    assert.equal((await fetch(`${gw.url}/pkg/icn_web_bg.wasm`)).headers.get("content-type"), "application/wasm");
    assert.match(await (await fetch(`${gw.url}/pkg/icn_web.d.ts`)).text(), /class Peer/);
    assert.equal((await fetch(`${gw.url}/pkg/nope.js`)).status, 404);
    await page.goto(gw.url + "/");
    await page.waitForFunction(() => /joined in/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
    assert.match(await page.textContent("#node"), /^[0-9a-f]{64}$/);
    const publisher = await page.textContent("#publisher");
    await page.fill("#pub-path", "/demo/note");
    await page.fill("#pub-text", "written on the demo page");
    await page.click("#pub-go");
    await page.waitForFunction(() => /published/.test(document.getElementById("pub-msg").textContent), null, { timeout: 30000 });
    assert.equal(await page.inputValue("#get-name"), `/${publisher}/demo/note`);
    await page.click("#get-go");
    await page.waitForSelector("#view pre", { timeout: 30000 });
    assert.equal(await page.textContent("#view pre"), "written on the demo page");
    assert.match(await page.textContent("#get-msg"), /^verified: 24 bytes/);
    // The ring picture is drawn from the peer's own state.
    const lit = await page.evaluate(() => {
      const c = document.getElementById("ring");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    assert.ok(lit > 1000, `ring picture nearly empty (${lit} pixels)`);
    const bad = page.locator("#get-msg");
    await page.fill("#get-name", "/x/../y");
    await page.click("#get-go");
    await page.waitForFunction(() => document.getElementById("get-msg").className.includes("err"));
    assert.match(await bad.textContent(), /bad name/);
    // Nothing can be published under a name without a publisher id first.
    await page.fill("#get-name", "/alice/x");
    await page.click("#get-go");
    await page.waitForFunction(() => /alice/.test(document.getElementById("get-msg").textContent));
    assert.match(await bad.textContent(), /bad name '\/alice\/x': first component is not a publisher id/);
  } finally {
    await browser.close();
    gw.child.kill();
  }
});
