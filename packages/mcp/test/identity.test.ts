import { isTunnelError, type TunnelError } from '@tunnel/core';
import { describe, expect, it } from 'vitest';
import { resolveStdioActor, type StdioIdentityInput } from '../src/index.js';

function refusal(input: StdioIdentityInput): TunnelError {
  try {
    resolveStdioActor(input);
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('resolveStdioActor', () => {
  it('binds to the project from --project, or from TUNNEL_PROJECT', () => {
    expect(resolveStdioActor({ project: 'shop', env: {} })).toEqual({ kind: 'project', project: 'shop' });
    expect(resolveStdioActor({ env: { TUNNEL_PROJECT: 'blog' } })).toEqual({ kind: 'project', project: 'blog' });
  });

  it('binds to admin from --admin, or from TUNNEL_ADMIN=1|true|yes', () => {
    expect(resolveStdioActor({ admin: true, env: {} })).toEqual({ kind: 'admin' });
    for (const value of ['1', 'true', 'YES']) {
      expect(resolveStdioActor({ env: { TUNNEL_ADMIN: value } })).toEqual({ kind: 'admin' });
    }
  });

  it('lets the command line win over the environment', () => {
    expect(resolveStdioActor({ project: 'shop', env: { TUNNEL_ADMIN: '1' } })).toEqual({
      kind: 'project',
      project: 'shop',
    });
    expect(resolveStdioActor({ admin: true, env: { TUNNEL_PROJECT: 'blog' } })).toEqual({ kind: 'admin' });
  });

  it('refuses no identity, naming both ways to give one', () => {
    for (const env of [{}, { TUNNEL_PROJECT: '' }, { TUNNEL_ADMIN: '0' }, { TUNNEL_ADMIN: 'false' }]) {
      const error = refusal({ env });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toMatch(/No identity/);
      expect(error.hint).toMatch(/--project <name>/);
      expect(error.hint).toMatch(/--admin/);
      expect(error.hint).toMatch(/TUNNEL_PROJECT/);
    }
  });

  it('refuses a project and admin at once', () => {
    expect(refusal({ project: 'shop', admin: true, env: {} }).message).toMatch(/both a project and admin/);
    expect(refusal({ env: { TUNNEL_PROJECT: 'shop', TUNNEL_ADMIN: '1' } }).message).toMatch(/both/);
  });

  it('refuses an invalid project name with the naming rule, saying where it came from', () => {
    for (const project of ['Shop', 'shop_1', '-shop', 'a'.repeat(64), '@admin', 'shop blog', '']) {
      const error = refusal({ project, env: {} });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toMatch(/Invalid project name.*command line/);
      expect(error.hint).toMatch(/a–z, 0–9/);
    }
    expect(refusal({ env: { TUNNEL_PROJECT: 'Bad!' } }).message).toMatch(/environment/);
  });

  it('refuses a TUNNEL_ADMIN that is neither true nor false', () => {
    const error = refusal({ env: { TUNNEL_ADMIN: 'maybe' } });
    expect(error.message).toMatch(/TUNNEL_ADMIN="maybe"/);
    expect(error.hint).toMatch(/TUNNEL_ADMIN=1/);
  });
});
