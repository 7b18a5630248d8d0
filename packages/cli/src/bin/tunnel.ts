#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { runCli } from '../main.js';

// fetch (Node's bundled undici, which the Cloudflare SDK uses) parses HTTP with llhttp compiled to
// WebAssembly. V8 compiles it at once with its baseline compiler (Liftoff) and then again, in the
// background, with its optimising one; at exit V8 waits for that background job, which kept every
// command that had called the API alive for another 0.2–0.3 s after its work was done. The HTTP
// parsing of a few API responses a minute gains nothing from the optimised code. Set before the
// first fetch compiles the module.
setFlagsFromString('--liftoff-only');

// `tunnel cname ls | head -1`: once the reader has gone, nothing more can be printed and nothing
// is wrong — end quietly, as Unix tools do, instead of an unhandled EPIPE with a stack trace.
// (A daemon logs to stdout too; if its log reader dies, the supervisor restarts both.)
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
// The command has finished and its cleanups have run (a daemon has shut down): whatever handle a
// library left open must not keep the process alive. Above all that is fetch's idle keep-alive
// socket to the Cloudflare API, which held a one-shot command such as `cname add --dry-run` for
// another ~0.2 s after its output. So exit as soon as stdout and stderr have taken what was
// written to them (pino writes synchronously); the timer is the backstop should a flush never
// complete, and does not itself hold the event loop.
setTimeout(() => process.exit(), 3_000).unref();
await Promise.all(
  [process.stdout, process.stderr].map((stream) => new Promise((flushed) => stream.write('', flushed))),
);
process.exit();
