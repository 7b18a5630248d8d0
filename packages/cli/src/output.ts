import type { TunnelErrorJson } from '@tunnel/core';
import pc from 'picocolors';

type Colors = ReturnType<typeof pc.createColors>;

/** Where a command writes, and what kind of terminal it writes to. Tests pass their own. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stdout is a terminal: colours and progress bars are allowed. */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: Boolean(process.stdout.isTTY),
    env: process.env,
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what it strips.
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleWidth = (text: string) => [...text.replace(ANSI, '')].length;

/** A column: its header and how to align it. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/**
 * How a command prints. With `--json` a command prints exactly one JSON document on stdout
 * (its result, or `{"error": {...}}`), and nothing else there; otherwise aligned tables and
 * lines for people, coloured only on a terminal (and never with NO_COLOR).
 */
export class Output {
  readonly json: boolean;
  readonly c: Colors;
  readonly io: CliIo;

  constructor(io: CliIo, options: { json: boolean; color?: boolean }) {
    this.io = io;
    this.json = options.json;
    const color =
      options.color ?? (io.isTTY && !options.json && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb');
    this.c = pc.createColors(color);
  }

  /** The machine result: one JSON document. */
  data(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }

  line(text = ''): void {
    this.io.stdout(`${text}\n`);
  }

  /** Diagnostics for people (stderr, so stdout stays parseable). */
  note(text: string): void {
    this.io.stderr(`${text}\n`);
  }

  /** An aligned table without borders; cells may contain colour. */
  table(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
    const widths = columns.map((col, i) =>
      Math.max(visibleWidth(col.header), ...rows.map((row) => visibleWidth(row[i] ?? ''))),
    );
    const render = (cells: readonly string[]) =>
      cells
        .map((cell, i) => {
          const pad = ' '.repeat((widths[i] ?? 0) - visibleWidth(cell));
          if (i === cells.length - 1 && columns[i]?.align !== 'right') return cell;
          return columns[i]?.align === 'right' ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd();
    this.line(this.c.bold(render(columns.map((col) => col.header))));
    for (const row of rows) this.line(render(row));
  }

  /** An error: `{"error": …}` on stdout in JSON mode, else two lines on stderr (what, then what to do). */
  error(error: TunnelErrorJson): void {
    if (this.json) {
      this.data({ error });
      return;
    }
    this.io.stderr(`${this.c.red('error')}: ${error.message} ${this.c.dim(`[${error.code}]`)}\n`);
    if (error.hint) this.io.stderr(`${this.c.dim('hint')}: ${error.hint}\n`);
  }

  /** A usage error: one line, no stack. */
  usage(message: string): void {
    if (this.json) {
      this.data({ error: { code: 'USAGE', message, hint: 'Run the command with --help.', retryable: false } });
      return;
    }
    this.io.stderr(`${message}\n`);
  }

  ok(text: string): string {
    return `${this.c.green('✓')} ${text}`;
  }

  fail(text: string): string {
    return `${this.c.red('✗')} ${text}`;
  }
}

/** Epoch ms as an ISO timestamp without milliseconds, or `-`. */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration for people: `850 ms`, `12 s`, `3 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
