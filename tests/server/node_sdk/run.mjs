// Runs every `export async function test…(ctx)` of the case files named on the command line, one after the
// other, and prints one line per case: `@@case {"file", "name", "ok", "error"}`. The pytest driver
// (test_node_sdk.py) starts the server, sets the environment lib.mjs reads, and turns each line into a test.
import path from "node:path";
import { pathToFileURL } from "node:url";

import { context } from "./lib.mjs";

const ctx = context();
for (const file of process.argv.slice(2)) {
  const module = await import(pathToFileURL(path.resolve(file)).href);
  for (const [name, fn] of Object.entries(module)) {
    if (!name.startsWith("test") || typeof fn !== "function") continue;
    const report = { file: path.basename(file, ".mjs"), name, ok: true, error: null };
    try {
      await fn(ctx);
    } catch (error) {
      report.ok = false;
      report.error = String(error?.stack ?? error);
    }
    process.stdout.write(`@@case ${JSON.stringify(report)}\n`);
  }
}
