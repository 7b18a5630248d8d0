#!/usr/bin/env node
import { runCli } from '../main.js';

process.exitCode = await runCli(process.argv.slice(2));
// The command has finished (a daemon has shut down): whatever handle a library left open must
// not keep the process alive. The timer itself does not hold the event loop.
setTimeout(() => process.exit(), 3_000).unref();
