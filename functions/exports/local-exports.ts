import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deps } from '../domain/deps.js';
import { type ExportStarter, inProcessExportStarter } from '../export-starter.js';
import { type FolderSink, folderSink } from './folder-sink.js';

/**
 * Exports as `npm start` and the tests run them: files in a folder (npm start: `exports/` beside its
 * DynamoDB data), jobs run in this process. One per set of handlers: the start and get routes share it.
 */
export interface LocalExports {
  sink: FolderSink;
  starter: ExportStarter & { idle(): Promise<void> };
}

/** Where exports go when nobody said (a handler built without a folder: tools, tests that do not look). */
export const DEFAULT_EXPORT_DIR = join(tmpdir(), 'roaming-exports');

export function localExports(deps: Deps, dir: string, log?: (line: string) => void): LocalExports {
  const sink = folderSink(dir);
  return { sink, starter: inProcessExportStarter(deps, sink, log) };
}

const byDeps = new WeakMap<Deps, LocalExports>();

/** The handlers' shared runtime over `deps`, in the default folder unless one was set for them. */
export function localExportsOf(deps: Deps, dir = DEFAULT_EXPORT_DIR): LocalExports {
  let exports = byDeps.get(deps);
  if (!exports) {
    exports = localExports(deps, dir);
    byDeps.set(deps, exports);
  }
  return exports;
}
