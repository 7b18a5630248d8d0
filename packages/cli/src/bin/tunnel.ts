#!/usr/bin/env node
import { runCli } from '../main.js';

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
// The command has finished (a daemon has shut down): whatever handle a library left open must
// not keep the process alive. The timer itself does not hold the event loop.
setTimeout(() => process.exit(), 3_000).unref();
