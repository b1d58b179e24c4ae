// Two wasm peers in headless Chromium join a real gateway over /ws, publish,
// get, and route a message; the gateway serves what they published.
// Needs ICN_BIN (the icn binary) and ICN_PKG (wasm-bindgen --target web output).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { readFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

async function startGateway() {
  const data = await mkdtemp(join(tmpdir(), "icn-browser-"));
  const child = spawn(process.env.ICN_BIN, ["gateway", "--listen", "127.0.0.1:0", "--data", data],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  return { child, url: line.trim().split(" ").pop() };
}

function serveStatic() {
  const dir = new URL(".", import.meta.url).pathname;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = path.startsWith("/pkg/") ? join(process.env.ICN_PKG, path.slice(5)) : join(dir, path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("browser peers join through the gateway, publish, get and message", async () => {
  assert.ok(process.env.ICN_BIN && process.env.ICN_PKG, "set ICN_BIN and ICN_PKG");
  const gw = await startGateway();
  const server = await serveStatic();
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => console.error("console:", m.text()));
    const ws = gw.url.replace("http://", "ws://") + "/ws";
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
