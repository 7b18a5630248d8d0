import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo, runCli } from '../../src/index.js';

/** An in-memory terminal for `runCli`: what was printed, and the exit code. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process (fast; the end-to-end tests spawn the built executable instead). */
export async function runInProcess(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    isTTY: false,
    env: { PATH: process.env.PATH, ...env },
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** Temporary directories removed after each test (register with `afterEach(cleanTempDirs)`). */
const dirs: string[] = [];
export function tempDir(prefix = 'tm-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
export function cleanTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
