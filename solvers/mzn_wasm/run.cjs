#!/usr/bin/env node
// Runs the WebAssembly MiniZinc of the npm package `minizinc` (MiniZinc 2.10 with Gecode, Chuffed,
// HiGHS and COIN-BC) like the `minizinc` command line, for solvers/minizinc.py. Debian's MiniZinc
// has only Gecode; this one adds MIP solvers for models with continuous variables.
//
//   node --liftoff-only run.cjs [--with-versions] <minizinc arguments...>
//
// Files named on the command line (.mzn .dzn .json .mpc .fzn) are copied into the virtual file
// system under their base names; nothing else of the real file system is visible. With
// --json-stream each MiniZinc message is written to stdout as one JSON line as soon as it is
// produced, so a run killed at its wall-clock limit still leaves the solutions found so far.
// --with-versions first writes {"type": "versions", "minizinc": ..., "solvers": [...]}.
// (--liftoff-only: V8's baseline compiler alone starts this 17 MB module in about a third of the
// time of its default tiering on a busy 2-core machine, and solved a small MIP faster too.)
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const dist = path.join(__dirname, "node_modules", "minizinc", "dist");
const workerPath = path.join(dist, "minizinc-worker.js");
if (!fs.existsSync(workerPath)) {
  process.stderr.write(`MiniZinc WebAssembly is not installed (${workerPath} is missing); run\n` +
    `  npm ci --ignore-scripts --prefix ${__dirname}\n`);
  process.exit(3);
}

function out(line) {
  fs.writeSync(1, line + "\n");
}

let onMessage = null; // the worker's "message" listener
let current = null; // the run in progress: {jsonStream, resolve}
let markReady = null;
const ready = new Promise((resolve) => { markReady = resolve; });

// The worker script speaks the Web Worker API; give it that API inside this process.
globalThis.addEventListener = (type, fn) => { if (type === "message") onMessage = fn; };
globalThis.postMessage = (msg) => {
  if (msg && msg.type === "ready") { markReady(); return; }
  if (!current) return;
  if (msg && msg.type === "exit") { const run = current; current = null; run.resolve(msg); return; }
  if (current.jsonStream) out(JSON.stringify(msg));
};

// The package marks its .js files as ES modules, but the worker needs CommonJS `require`.
const code = fs.readFileSync(workerPath, "utf8");
vm.runInThisContext(`(function (require, __dirname, __filename) {${code}\n})`, { filename: workerPath })(
  require, dist, workerPath);
onMessage({ data: { wasmURL: path.join(dist, "minizinc.wasm"), dataURL: path.join(dist, "minizinc.data") } });

// One MiniZinc run; resolves with the worker's exit message {code, stdout?, stderr?, message?}.
async function run(args, files) {
  await ready;
  let jsonStream = false;
  const rest = args.filter((a) => {
    if (a === "--json-stream") { jsonStream = true; return false; }
    return true;
  });
  return new Promise((resolve) => {
    current = { jsonStream, resolve };
    onMessage({ data: { args: rest, files, jsonStream } });
  });
}

function collectFiles(args) {
  const files = {};
  const mapped = args.map((a) => {
    if (/\.(mzn|dzn|json|mpc|fzn)$/.test(a) && fs.existsSync(a)) {
      const name = path.basename(a);
      files[name] = fs.readFileSync(a, "utf8");
      return name;
    }
    return a;
  });
  return { args: mapped, files };
}

async function versions() {
  const v = await run(["--version"], {});
  const s = await run(["--solvers-json"], {});
  let solvers = [];
  try { solvers = JSON.parse(s.stdout || "[]"); } catch (e) { solvers = []; }
  const line = (v.stdout || "").split("\n")[0];
  out(JSON.stringify({ type: "versions", minizinc: line,
                       solvers: solvers.map((x) => ({ id: x.id, name: x.name, version: x.version })) }));
}

async function main() {
  let argv = process.argv.slice(2);
  if (argv[0] === "--with-versions") {
    argv = argv.slice(1);
    await versions();
  }
  const { args, files } = collectFiles(argv);
  const msg = await run(args, files);
  if (msg.stdout) fs.writeSync(1, msg.stdout);
  if (msg.stderr) fs.writeSync(2, msg.stderr);
  if (msg.message) fs.writeSync(2, msg.message + "\n");
  process.exit(typeof msg.code === "number" ? msg.code : 1);
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + "\n"); process.exit(1); });
