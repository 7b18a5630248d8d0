import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, renderErrorCodeTable, TunnelError, toTunnelError } from '../src/index.js';

describe('TunnelError', () => {
  it('carries code, message, hint, retryable, details and cause', () => {
    const cause = new Error('socket hang up');
    const error = new TunnelError('PROVIDER_UNAVAILABLE', 'Cloudflare did not answer.', {
      hint: 'Retry in a minute.',
      cause,
      details: { attempt: 3 },
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.retryable).toBe(true);
    expect(error.family).toBe('provider');
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({
      code: 'PROVIDER_UNAVAILABLE',
      message: 'Cloudflare did not answer.',
      hint: 'Retry in a minute.',
      retryable: true,
      details: { attempt: 3 },
    });
    expect(new TunnelError('PROVIDER_UNAVAILABLE', 'x', { hint: 'y', retryable: false }).retryable).toBe(false);
  });

  it('wraps unknown throwables as INTERNAL, keeping the original as cause', () => {
    const original = new RangeError('boom');
    const wrapped = toTunnelError(original);
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).toContain('boom');
    expect(wrapped.cause).toBe(original);
    const same = new TunnelError('NOT_OWNER', 'n', { hint: 'h' });
    expect(toTunnelError(same)).toBe(same);
    expect(toTunnelError('text').message).toContain('text');
  });

  it('has every code the foundation requires', () => {
    for (const code of [
      'INVALID_HOSTNAME',
      'INVALID_INPUT',
      'ZONE_NOT_FOUND',
      'HOSTNAME_TAKEN',
      'NOT_OWNER',
      'RECORD_CONFLICT',
      'TARGET_UNREACHABLE',
      'INGRESS_INVALID',
      'CONCURRENT_CHANGE',
      'RATE_LIMITED',
      'PROVIDER_UNAVAILABLE',
      'AUTH_FAILED',
      'QUOTA_EXCEEDED',
      'CONFIG_INVALID',
      'STATE_CORRUPT',
    ]) {
      expect(ERROR_CODES).toHaveProperty(code);
    }
  });

  it('docs/errors.md is the rendered code table (regenerate with `pnpm run docs`)', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    expect(doc).toContain(renderErrorCodeTable());
  });
});
