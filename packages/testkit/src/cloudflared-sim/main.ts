import { validateIngressRules } from '@tunnel/core';
import { parseSimCommand, UsageError } from './args.js';
import { loadSimConfig, SimConfigError } from './config.js';
import { resolveSimCredentials } from './credentials.js';
import { DEFAULT_AUTOUPDATE_FREQ_MS, formatLogLine, SIM_VERSION, Simulator } from './simulator.js';

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
  function fail(error: SimConfigError): never {
    if (command.action === 'ingress-validate') {
      process.stdout.write(`Validating rules from ${command.configPath ?? 'the default config'}\n`);
      process.stderr.write(`Validation failed: ${error.message}\n`);
    } else if (error.stage === 'start') {
      log('ERR', `Couldn't start tunnel error=${JSON.stringify(error.message)}`);
    } else {
      for (const line of error.logs) log('ERR', line);
      process.stderr.write(`${error.message}\n`);
    }
    process.exit(1);
  }
  try {
    config = loadSimConfig(command.configPath, { tunnelFromArgs: command.tunnel });
  } catch (error) {
    if (!(error instanceof SimConfigError)) throw error;
    fail(error);
  }
  if (command.action === 'ingress-validate') {
    if (config.startError) fail(config.startError);
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
  const tunnelRef = config.tunnel;
  if (!tunnelRef) {
    process.stderr.write(
      '"cloudflared tunnel run" requires the ID or name of the tunnel to run as the last command line argument or in the configuration file.\nSee \'cloudflared tunnel run --help\'.\n',
    );
    process.exit(1);
  }
  // As cloudflared: the credentials are found (and read) before the rules are parsed; a tunnel
  // token carries its own credentials.
  let tunnelId = tunnelRef;
  let authorized = true;
  if (!command.token) {
    try {
      const found = resolveSimCredentials({
        tunnelRef,
        credentialsFile: command.credentialsFile ?? config.credentialsFile,
        credContents: command.credContents,
        originCert: command.originCert,
      });
      tunnelId = found.tunnelId;
      authorized = found.authorized;
    } catch (error) {
      if (!(error instanceof SimConfigError)) throw error;
      fail(error);
    }
  }
  if (config.startError) fail(config.startError);
  const freqMs = command.autoupdateFreqMs ?? config.autoupdateFreqMs ?? DEFAULT_AUTOUPDATE_FREQ_MS;
  const noAutoupdate = command.noAutoupdate ?? config.noAutoupdate ?? false;
  const sim = new Simulator(
    command,
    config,
    tunnelId,
    { log, exit: (code) => process.exit(code) },
    { authorized, autoupdate: { enabled: !noAutoupdate && freqMs > 0, freqMs } },
  );
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
