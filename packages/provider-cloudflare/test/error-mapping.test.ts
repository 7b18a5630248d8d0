import { type CloudflareEmulator, ManualClock } from '@tunnel/testkit';
import Cloudflare from 'cloudflare';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiOperation, loadCloudflareSdk, mapCloudflareError, PERMISSIONS } from '../src/index.js';
import { dns, drive, emulator, TARGET } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const op: ApiOperation = { action: 'do a thing', permission: PERMISSIONS.dnsEdit, subject: 'zone', subjectId: 'z1' };
const tunnelOp: ApiOperation = {
  action: 'read it',
  permission: PERMISSIONS.tunnelRead,
  subject: 'tunnel',
  subjectId: 't1',
};

/** An error exactly as the SDK builds it from an HTTP answer. */
const sdkError = (status: number, codes: number[], headers: Record<string, string> = {}) =>
  Cloudflare.APIError.generate(
    status,
    { success: false, errors: codes.map((code) => ({ code, message: `message ${code}` })), messages: [], result: null },
    undefined,
    new Headers(headers),
  );

describe('mapCloudflareError', () => {
  it('maps by code and status, keeping the codes in details', async () => {
    const sdk = await loadCloudflareSdk();
    const map = (status: number, codes: number[], o = op) => mapCloudflareError(sdkError(status, codes), o, sdk);
    expect(map(400, [81057]).code).toBe('RECORD_CONFLICT');
    expect(map(400, [81054]).details).toMatchObject({ status: 400, cloudflareCodes: [81054], zone: 'z1' });
    expect(map(404, [81044]).code).toBe('NOT_FOUND');
    expect(map(404, [1003], tunnelOp).code).toBe('NOT_FOUND');
    expect(map(400, [7003]).code).toBe('ZONE_NOT_FOUND');
    expect(map(408, []).code).toBe('PROVIDER_UNAVAILABLE');
    expect(map(500, []).retryable).toBe(true);
    expect(map(409, [1234]).code).toBe('CONCURRENT_CHANGE');
    expect(map(400, [1056]).code).toBe('INGRESS_INVALID');
    const unknown = map(400, [1004]);
    expect(unknown.code).toBe('INVALID_INPUT');
    expect(unknown.message).toContain('message 1004 (code 1004)');
    expect(map(401, []).code).toBe('AUTH_FAILED');
  });

  it('reads the wait from retry-after-ms, retry-after seconds or date, else 60 s', async () => {
    const sdk = await loadCloudflareSdk();
    const wait = (headers: Record<string, string>) =>
      mapCloudflareError(sdkError(429, [971], headers), op, sdk).details?.retryAfterMs;
    expect(wait({ 'retry-after-ms': '1500' })).toBe(1500);
    expect(wait({ 'retry-after': '12' })).toBe(12_000);
    const inAMinute = new Date(Date.now() + 120_000).toUTCString();
    expect(wait({ 'retry-after': inAMinute })).toBeGreaterThan(60_000);
    expect(wait({})).toBe(60_000);
  });

  it('passes TunnelErrors through and wraps anything else as INTERNAL', async () => {
    const sdk = await loadCloudflareSdk();
    const mapped = mapCloudflareError(sdkError(500, []), op, sdk);
    expect(mapCloudflareError(mapped, op, sdk)).toBe(mapped);
    expect(mapCloudflareError(new TypeError('boom'), op, sdk).code).toBe('INTERNAL');
  });
});

describe('createCname when the holder of a conflict is gone by the time it looks', () => {
  const running: CloudflareEmulator[] = [];
  afterEach(async () => {
    for (const cf of running.splice(0)) await cf.close();
  });

  it('tries again instead of reporting a conflict nobody holds', async () => {
    const { cf, zoneId } = await emulator();
    running.push(cf);
    const clock = new ManualClock();
    cf.injectFault({ method: 'POST', path: '/dns_records', status: 400, code: 81057 });
    const record = await drive(
      clock,
      dns(cf, { clock }).createCname(zoneId, { name: 'v.example.com', target: TARGET, owner: 'alpha', instance: ME }),
    );
    expect(cf.records(zoneId).map((r) => r.id)).toEqual([record.id]);
    expect(cf.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 400', 'GET 200', 'GET 200', 'POST 200']);
  });
});
