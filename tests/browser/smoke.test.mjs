// Two wasm peers in headless Chromium join a real gateway over /ws, publish,
// get, and route a message; the gateway serves what they published.
// Needs ICN_BIN (the icn binary) and ICN_PKG (wasm-bindgen --target web output).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startGateway, serveStatic, launch } from "./harness.mjs";

test("browser peers join through the gateway, publish, get and message", async () => {
  assert.ok(process.env.ICN_BIN && process.env.ICN_PKG, "set ICN_BIN and ICN_PKG");
  const gw = await startGateway();
  const server = await serveStatic();
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    page.on("console", (m) => console.error("console:", m.text()));
    const ws = gw.ws;
    await page.goto(`http://127.0.0.1:${server.address().port}/smoke.html?gw=${encodeURIComponent(ws)}`);
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
