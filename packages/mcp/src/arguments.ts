import { Hostname, hostnameFromSubdomain, isTunnelError, TunnelError } from '@tunnel/core';
import type { z } from 'zod';
import type { ToolDefinition } from './tools.js';

/*
 * Checks on tool arguments that zod cannot make, or makes in a way an agent cannot act on.
 * The server runs them before the tool's schema.
 */

const kindOf = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'an array'
      : typeof value === 'string'
        ? 'a string'
        : `a ${typeof value}`;

/**
 * `arguments` must be a JSON object of named fields. A string or an array is not (the SDK's own
 * request schema would fail on it with a raw zod dump as JSON-RPC -32603 "Internal error").
 * Returns the problem as an INVALID_INPUT TunnelError, or null when the arguments are an object.
 */
export function argumentsShapeError(tool: ToolDefinition, args: unknown): TunnelError | null {
  if (args === undefined || (typeof args === 'object' && args !== null && !Array.isArray(args))) return null;
  return new TunnelError(
    'INVALID_INPUT',
    `The arguments of ${tool.name} must be a JSON object of named fields, got ${kindOf(args)}.`,
    {
      hint: `Send "arguments" as an object; tools/list gives its fields. ${tool.example}`,
      details: { issues: [{ path: '(arguments)', message: `expected an object, got ${kindOf(args)}` }] },
    },
  );
}

/**
 * Keys no schema may accept. JSON.parse keeps `"__proto__"` as an own key, but zod's object
 * parsing drops it without a word while it refuses every other unknown key: refuse it the same way.
 */
const FORBIDDEN_KEYS = ['__proto__'];

export function forbiddenKeyIssues(args: unknown): z.core.$ZodIssue[] {
  if (typeof args !== 'object' || args === null) return [];
  const found = FORBIDDEN_KEYS.filter((key) => Object.hasOwn(args, key));
  if (found.length === 0) return [];
  return [
    {
      code: 'unrecognized_keys',
      keys: found,
      path: [],
      message: `Unrecognized key: ${found.map((k) => JSON.stringify(k)).join(', ')}`,
      input: args,
    } as z.core.$ZodIssue,
  ];
}

/** Fields whose values are hostnames (or a part of one): a bad one is INVALID_HOSTNAME, whoever finds it. */
const HOSTNAME_FIELDS = new Set(['hostname', 'domain', 'zone']);

/**
 * One kind of mistake, one code: the schema bounds a hostname's length (so `tools/list` shows
 * them), but an empty or 10 KB hostname is a bad hostname like a blank or a 255-character one
 * the domain refuses with INVALID_HOSTNAME. When the only issues are the length of such fields,
 * the domain's own check on the value gives the error (its code, its wording).
 */
export function hostnameLengthError(args: unknown, issues: readonly z.core.$ZodIssue[]): TunnelError | null {
  if (typeof args !== 'object' || args === null || issues.length === 0) return null;
  const record = args as Record<string, unknown>;
  for (const issue of issues) {
    const field = issue.path.length === 1 ? String(issue.path[0]) : null;
    const isLength = issue.code === 'too_small' || issue.code === 'too_big';
    if (!field || !isLength || typeof record[field] !== 'string') return null;
    if (!HOSTNAME_FIELDS.has(field) && field !== 'subdomain') return null;
  }
  const first = issues[0] as z.core.$ZodIssue;
  const field = String(first.path[0]);
  const value = record[field] as string;
  try {
    // Only its length is wrong here, so the zone it is checked below does not matter.
    if (field === 'subdomain') hostnameFromSubdomain(value, Hostname.parse('example.com'));
    else Hostname.parse(value, { allowWildcard: true });
  } catch (error) {
    if (!isTunnelError(error, 'INVALID_HOSTNAME')) return null;
    if (field === 'subdomain') return error;
    const problem = (error.details as { problem?: unknown } | undefined)?.problem;
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    return new TunnelError(
      'INVALID_HOSTNAME',
      `Invalid ${field === 'subdomain' ? 'subdomain' : 'hostname'} ${shown}: ${typeof problem === 'string' ? problem : 'its length is out of bounds'}.`,
      { hint: error.hint, details: { field } },
    );
  }
  return null;
}
