// What a test process started is undone when it ends, however it ends: after its
// tests, after a failure or a timeout, and on SIGINT/SIGTERM/SIGHUP. Node's test
// runner runs each file in a child process and, when it is interrupted itself,
// sends that child SIGTERM (seen on Node 20.20: the child's 'exit' handlers do not
// run then unless the signal is handled), so servers and temp folders are
// registered here and undone synchronously on any of these.

import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

type Undo = () => void;
const undos = new Set<Undo>();
let installed = false;

function undoAll(): void {
  // Last registered first: a server goes before the folder it ran in.
  for (const undo of [...undos].reverse()) {
    undos.delete(undo);
    try {
      undo();
    } catch (e) {
      process.stderr.write(`cleanup: ${(e as Error).message}\n`);
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', undoAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      undoAll();
      process.exit(128 + constants.signals[sig]);
    });
  }
}

/** Runs `undo` (synchronous) when this process ends, unless the returned function cancels it first. */
export function onExit(undo: Undo): () => void {
  install();
  undos.add(undo);
  return () => void undos.delete(undo);
}

/** A fresh folder under the temp dir, removed when this process ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
