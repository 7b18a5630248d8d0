import { Secret, TunnelError } from '@tunnel/core';
import { describe, expect, it } from 'vitest';
import { createPinoLogger } from '../src/index.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createPinoLogger({ level, destination: (line) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('PinoLogger (core Logger port on pino)', () => {
  it('writes one JSON object per line with level, ISO time, message and the fields', () => {
    const { logger, lines } = capture();
    logger.info('cloudflared started', { replica: 'replica-1', pid: 42 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'cloudflared started', replica: 'replica-1', pid: 42 });
    expect(Date.parse(String(lines[0]?.time))).not.toBeNaN();
  });

  it('redacts secrets by field name, nested, in child bindings, and Secret values anywhere', () => {
    const { logger, lines } = capture();
    const child = logger.child({ apiToken: 'cf-abc', component: 'x' });
    child.warn('request', {
      token: 'tm_secret',
      headers: { authorization: 'Bearer tm_secret', accept: 'json' },
      nested: { deeper: { password: 'hunter2', cloudflareApiKey: 'k' } },
      value: new Secret('in-a-secret'),
    });
    const text = JSON.stringify(lines);
    for (const secret of ['cf-abc', 'tm_secret', 'hunter2', 'in-a-secret', '"k"']) expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({ component: 'x', headers: { accept: 'json' } });
  });

  it('logs a TunnelError as code, message and hint; another error with its stack', () => {
    const { logger, lines } = capture();
    logger.error('failed', { error: new TunnelError('AUTH_FAILED', 'bad token', { hint: 'fix it' }) });
    logger.error('bug', { error: new RangeError('boom') });
    expect(lines[0]?.error).toEqual({ type: 'TunnelError', code: 'AUTH_FAILED', message: 'bad token', hint: 'fix it' });
    expect(lines[1]?.error).toMatchObject({ type: 'RangeError', message: 'boom' });
    expect(String((lines[1]?.error as { stack?: string } | undefined)?.stack)).toContain('RangeError: boom');
  });

  it('drops what is below its level', () => {
    const { logger, lines } = capture('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'error']);
  });

  it('never throws into the caller, even on a field that cannot be serialised', () => {
    const { logger } = capture();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => logger.info('cyclic', { cyclic, big: 10n })).not.toThrow();
  });
});
