/**
 * Resolves at the first SIGTERM or SIGINT (the clean shutdown starts); a second one while
 * shutting down ends the process at once, as an operator pressing Ctrl-C twice expects.
 */
export function shutdownSignal(onSecond: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals) => {
      if (received) {
        onSecond(signal);
        return;
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
