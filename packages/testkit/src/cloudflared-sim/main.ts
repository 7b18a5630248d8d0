import { validateIngressRules } from '@tunnel/core';
import { parseSimCommand, UsageError } from './args.js';
import { loadSimConfig, SimConfigError } from './config.js';
import { formatLogLine, SIM_VERSION, Simulator } from './simulator.js';

const log = (level: string, message: string) => process.stderr.write(`${formatLogLine(level, message)}\n`);

/** Runs the simulated cloudflared in this process (the `cloudflared-sim` executable's body). */
export function runCloudflaredSim(argv: readonly string[]): void {
  let command: ReturnType<typeof parseSimCommand>;
  try {
    command = parseSimCommand(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`Incorrect Usage: ${error.message}\n\nSee 'cloudflared tunnel run --help'.\n`);
    process.exit(1);
  }
  if (command.action === 'version') {
    process.stdout.write(`cloudflared version ${SIM_VERSION} (built 2026-08-01-0000 UTC) (simulated)\n`);
    return;
  }
  let config: ReturnType<typeof loadSimConfig>;
  try {
    config = loadSimConfig(command.configPath, { tunnelFromArgs: command.tunnel });
  } catch (error) {
    if (!(error instanceof SimConfigError)) throw error;
    if (command.action === 'ingress-validate') {
      process.stdout.write(`Validating rules from ${command.configPath ?? 'the default config'}\n`);
      process.stderr.write(`Validation failed: ${error.message}\n`);
    } else if (error.stage === 'start') {
      log('ERR', `Couldn't start tunnel error=${JSON.stringify(error.message)}`);
    } else {
      process.stderr.write(`${error.message}\n`);
    }
    process.exit(1);
  }
  if (command.action === 'ingress-validate') {
    process.stdout.write(`Validating rules from ${config.path ?? 'the default config'}\n`);
    if (!config.hasIngressRules) {
      const empty =
        validateIngressRules([]).errors[0]?.cloudflared ?? 'The config file does not contain any ingress rules';
      process.stderr.write(`Validation failed: ${empty}\n`);
      process.exit(1);
    }
    // Like cloudflared: warnings replace the OK, and the exit code stays 0.
    if (config.warnings.length > 0) for (const w of config.warnings) process.stderr.write(`${w}\n`);
    else process.stdout.write('OK\n');
    return;
  }
  const tunnelId = config.tunnel;
  if (!tunnelId) {
    process.stderr.write(
      '"cloudflared tunnel run" requires the ID or name of the tunnel to run as the last command line argument or in the configuration file.\nSee \'cloudflared tunnel run --help\'.\n',
    );
    process.exit(1);
  }
  const sim = new Simulator(command, config, tunnelId, {
    log,
    exit: (code) => process.exit(code),
  });
  const onSignal = (signal: NodeJS.Signals) => {
    // Like cloudflared, stop listening after the first signal: a second one takes the default
    // action and ends the process at once. SIGHUP has no handler at all, so it kills.
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    sim.beginGracefulShutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  sim.start().catch((error: Error) => {
    log('ERR', error.message);
    process.exit(1);
  });
}
