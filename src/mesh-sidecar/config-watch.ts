// Watches the config file for `--watch`: the directory is watched, not the file, because editors
// and config managers replace a file (write a temporary one, rename it over) and a watch on the old
// inode would go quiet. Changes are debounced, so a save in several writes is read once, whole.
import { FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../telemetry/logger';

export interface ConfigWatch {
  close(): void;
}

/** Calls `changed` once the file has been quiet for `quietMs` after a change. */
export function watchConfigFile(file: string, changed: () => void, logger: Logger, quietMs = 250): ConfigWatch {
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  const watcher: FSWatcher = watch(dirname(file), (_event, changedName) => {
    // Some platforms do not say which file changed: then any change in the directory counts.
    if (changedName !== null && changedName.toString() !== name) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      changed();
    }, quietMs);
  });
  watcher.on('error', (err) => logger.error({ err }, `watching ${file} failed: reloads need SIGHUP from now on`));
  return {
    close: () => {
      if (timer !== null) clearTimeout(timer);
      watcher.close();
    },
  };
}
