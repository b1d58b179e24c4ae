// A browser peer given a second gateway (`Peer.join(url, { gateways })`)
// whose own gateway dies before it has a DataChannel joins again through the
// other one and keeps its ring position (spec/bootstrap.md, "Joining again
// elsewhere"). Needs ICN_BIN.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway, serveStatic, launch, until } from "./harness.mjs";

test("a stranded browser peer joins again through the next gateway", { timeout: 180_000 }, async () => {
  assert.ok(process.env.ICN_BIN, "set ICN_BIN");
  const dir = await mkdtemp(join(tmpdir(), "icn-rejoin-"));
  const bKey = join(dir, "b.pem");
  const bId = execFileSync(process.env.ICN_BIN, ["keygen", "--out", bKey]).toString().trim();
  const a = await startGateway(join(dir, "a"), ["--trust-gateway", bId]);
  const b = await startGateway(join(dir, "b"), ["--key", bKey, "--join", a.url]);
  const server = await serveStatic();
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    page.on("console", (m) => console.error("console:", m.text()));
    await page.goto(`http://127.0.0.1:${server.address().port}/peer.html?gw=${encodeURIComponent(b.url)}`);
    await page.waitForFunction(() => window.t !== undefined, null, { timeout: 30000 });
    // Joined through A, which dies at once: no DataChannel is up yet.
    const me = await page.evaluate(([ws, other]) => window.t.join(ws, { gateways: [other] }), [a.ws, b.ws]);
    a.child.kill("SIGKILL");
    const bNode = (await (await fetch(`${b.url}/api/ring`)).json()).node;
    // Until B and it form one ring of two: a membership left from the ring
    // through A (a successor list that still names B) is not enough.
    const strandedAt = Date.now();
    await until("a member again, in one ring with B, through B's WebSocket", 60_000, async () => {
      const r = await (await fetch(`${b.url}/api/ring`)).json();
      return r.joined && r.successors[0] === me.nodeId && page.evaluate((bNode) =>
        window.peer.joined && window.peer.ring().successors[0] === bNode
        && window.peer.links().some((l) => l.nodeId === bNode && l.transport === "websocket"), bNode);
    });
    console.log(`one ring with B after ${Date.now() - strandedAt} ms`);
    assert.equal(await page.evaluate(() => window.peer.nodeId), me.nodeId, "kept its ring position");
    // It works as before: what it publishes, B serves over HTTP.
    const name = await page.evaluate(() => window.peer.publish("/rejoin/hello", new TextEncoder().encode("back"), { contentType: "text/plain" }));
    const res = await fetch(`${b.url}/icn${name}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "back");
  } finally {
    await browser.close();
    server.close();
    a.child.kill("SIGKILL");
    b.child.kill();
  }
});
