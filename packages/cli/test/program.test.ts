import { ERROR_CODES, type ErrorFamily, ROUTE_STATES, SERVICE_SCHEMES } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeTable, FAMILY_EXIT_CODES, parseSinceOption } from '../src/index.js';
import { ROUTE_STATES as CLI_ROUTE_STATES, SCHEMES as CLI_SCHEMES } from '../src/program.js';
import { cleanTempDirs, runInProcess } from './support/io.js';

afterEach(cleanTempDirs);

describe('exit codes', () => {
  it('has one distinct code per error family, apart from ok, failure and usage', () => {
    const families = new Set(Object.values(ERROR_CODES).map((info) => info.family as ErrorFamily));
    expect(new Set(Object.keys(FAMILY_EXIT_CODES))).toEqual(families);
    const codes = exitCodeTable().map((row) => row.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.slice(0, 3)).toEqual([EXIT_OK, EXIT_FAILURE, EXIT_USAGE]);
    for (const code of Object.values(FAMILY_EXIT_CODES)) expect(code).toBeGreaterThan(EXIT_USAGE);
  });

  it('names every error code in the family it belongs to, in `tunnel --help`', async () => {
    const { code, stdout } = await runInProcess(['--help']);
    expect(code).toBe(0);
    for (const [name, info] of Object.entries(ERROR_CODES)) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${FAMILY_EXIT_CODES[info.family]} `));
      expect(line, name).toContain(name);
    }
  });
});

describe('usage errors', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['status', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown command, with a suggestion', ['statsu'], /unknown command 'statsu'.*Did you mean status\?/],
    ['a missing argument', ['cname', 'rm'], /missing required argument 'hostname'/],
    ['a missing required option', ['cname', 'add', 'app.example.com'], /required option '-p, --port <port>'/],
    [
      'a port that is not a number',
      ['cname', 'add', 'app.example.com', '--port', '80a'],
      /expected a port from 1 to 65535/,
    ],
    ['a port out of range', ['cname', 'add', 'app.example.com', '--port', '70000'], /expected a port from 1 to 65535/],
    [
      'a scheme it does not know',
      ['cname', 'add', 'a.example.com', '-p', '80', '--scheme', 'gopher'],
      /Allowed choices are http, https/,
    ],
    ['a malformed --since', ['audit', '--since', 'yesterday'], /expected a duration before now/],
    ['a command group without its subcommand', ['ingress'], /Usage: tunnel ingress/],
  ];
  it.each(cases)('%s exits 2 with one line and no stack trace', async (_what, argv, message) => {
    const { code, stdout, stderr } = await runInProcess(argv);
    expect(code).toBe(EXIT_USAGE);
    const text = stderr.trim();
    expect(text).toMatch(message);
    expect(text).not.toMatch(/\n\s+at /);
    if (!text.startsWith('Usage:')) {
      expect(text.split('\n')).toHaveLength(1);
      expect(stdout).toBe('');
    }
  });

  it('reports a usage error as one JSON document with --json', async () => {
    const { code, stdout, stderr } = await runInProcess(['cname', 'add', 'a.example.com', '--json', '--port', 'x']);
    expect(code).toBe(EXIT_USAGE);
    expect(stderr).toBe('');
    const doc = JSON.parse(stdout) as { error: { code: string; message: string } };
    expect(doc.error.code).toBe('USAGE');
    expect(doc.error.message).toMatch(/expected a port/);
  });

  it('exits 0 for --help and --version, on stdout', async () => {
    for (const argv of [['--help'], ['cname', 'add', '--help'], ['--version']]) {
      const { code, stdout, stderr } = await runInProcess(argv);
      expect(code, argv.join(' ')).toBe(0);
      expect(stdout.length).toBeGreaterThan(0);
      expect(stderr).toBe('');
    }
  });

  it('gives every command a --help that shows --json', async () => {
    const commands = [
      ['status'],
      ['cname', 'add'],
      ['cname', 'rm'],
      ['cname', 'ls'],
      ['domains', 'ls'],
      ['ingress', 'show'],
      ['ingress', 'validate'],
      ['ingress', 'rule'],
      ['ingress', 'backups'],
      ['ingress', 'restore'],
      ['reconcile'],
      ['audit'],
      ['token', 'create'],
      ['token', 'ls'],
      ['token', 'revoke'],
      ['mcp'],
      ['daemon'],
      ['sandbox'],
      ['init'],
      ['doctor'],
    ];
    for (const argv of commands) {
      const { code, stdout } = await runInProcess([...argv, '--help']);
      expect(code, argv.join(' ')).toBe(0);
      expect(stdout, argv.join(' ')).toMatch(new RegExp(`Usage: tunnel ${argv.join(' ')}`));
      expect(stdout, argv.join(' ')).toContain('--json');
    }
  });
});

describe('a TunnelError becomes its family exit code', () => {
  it('CONFIG_INVALID (state) from a bad config file exits 7 with the message and the hint', async () => {
    const { code, stderr } = await runInProcess(['ingress', 'show', '--config', '/nonexistent/config.yml']);
    expect(code).toBe(FAMILY_EXIT_CODES.state);
    const [first, second] = stderr.trim().split('\n');
    expect(first).toMatch(/^error: Cannot read the config file \/nonexistent\/config.yml.*\[CONFIG_INVALID\]$/);
    expect(second).toMatch(/^hint: /);
  });

  it('as JSON: {"error": {code, message, hint, retryable}} on stdout', async () => {
    const { code, stdout } = await runInProcess(['ingress', 'show', '--json'], {
      TM_HEALTH__INTERVAL_MS: 'often',
    });
    expect(code).toBe(FAMILY_EXIT_CODES.state);
    const doc = JSON.parse(stdout) as { error: { code: string; hint: string; retryable: boolean } };
    expect(doc.error).toMatchObject({ code: 'CONFIG_INVALID', retryable: false });
    expect(doc.error.hint.length).toBeGreaterThan(0);
  });
});

describe('--since', () => {
  const now = Date.UTC(2026, 0, 31, 12, 0, 0);
  it.each([
    ['30m', now - 30 * 60_000],
    ['12h', now - 12 * 3_600_000],
    ['7d', now - 7 * 86_400_000],
    ['2026-01-30T00:00:00Z', Date.UTC(2026, 0, 30)],
    ['2026-01-30', Date.UTC(2026, 0, 30)],
  ])('reads %s', (raw, expected) => {
    expect(parseSinceOption(raw, now)).toBe(expected);
  });
  it.each(['', '7', 'd7', '1y', 'last week', '2026-13-45'])('refuses %j', (raw) => {
    expect(() => parseSinceOption(raw, now)).toThrow(/expected a duration/);
  });
});

describe('option choices', () => {
  it("offers exactly core's service schemes and route states (copied so that --help loads no core)", () => {
    expect([...CLI_SCHEMES]).toEqual([...SERVICE_SCHEMES]);
    expect([...CLI_ROUTE_STATES]).toEqual([...ROUTE_STATES]);
  });
});
