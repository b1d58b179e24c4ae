// Shared pieces of the browser tests: the gateway binary on a loopback port,
// a static server for the test pages, and Chromium launched so that WebRTC
// works on a host whose only interface is loopback.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { readFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  // Without these two and media permission, a loopback-only host gathers no ICE candidates.
  "--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"];
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

/** Starts `icn gateway` on a free port (with `args` added); resolves to { child, url, ws, data }. */
export async function startGateway(data, args = []) {
  data = data || await mkdtemp(join(tmpdir(), "icn-browser-"));
  const child = spawn(process.env.ICN_BIN, ["gateway", "--listen", "127.0.0.1:0", "--data", data, ...args],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  const url = line.trim().split(" ").pop();
  return { child, url, ws: url.replace("http://", "ws://") + "/ws", data };
}

/** Serves this directory (the test pages; they load the bundle from the gateway's /pkg/). */
export function serveStatic() {
  const dir = new URL(".", import.meta.url).pathname;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = join(dir, path.replace(/\.\./g, ""));
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

/** One Chromium process and a context allowed to use media (needed for ICE on loopback). */
export async function launch() {
  // A browser server, so a test can kill the process itself (a crash, not a close).
  const server = await chromium.launchServer({ executablePath: "/usr/bin/chromium", args: FLAGS });
  const browser = await chromium.connect(server.wsEndpoint());
  const context = await browser.newContext({ permissions: ["microphone", "camera"] });
  return { browser, context, process: server.process(), close: () => browser.close().then(() => server.close()) };
}

/** Polls `check` (async, returns truthy when done) every `every` ms for up to `ms`. */
export async function until(what, ms, check, every = 250) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
