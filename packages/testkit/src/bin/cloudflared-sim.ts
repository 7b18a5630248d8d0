#!/usr/bin/env node
/*
 * The simulated cloudflared, as an executable with cloudflared's command shape:
 *   cloudflared-sim tunnel --config <file> --metrics <addr> [--grace-period 30s] run [TUNNEL]
 * See `@tunnel/testkit`'s cloudflared-sim module for what it simulates and its fault modes.
 */
import { runCloudflaredSim } from '../cloudflared-sim/main.js';

runCloudflaredSim(process.argv.slice(2));
