/**
 * The browser client's last known values, kept in a `StorageLike`
 * (`localStorage` by default) so a page starts with them at once and keeps
 * them while offline. One record per client key: the values of the last
 * context, used only for that same context.
 */
import type { Context } from '../api/context.js';
import type { Logger, StorageLike } from '../api/platform.js';
import { murmur3_32 } from '../evaluator/murmur3.js';
import { canonicalJson, deepFreeze } from '../internal/json.js';
import type { FlagValues } from './values.js';

const PREFIX = 'daylight:values:';
const FORMAT = 1;

interface CacheRecord {
  format: number;
  context: string;
  version: number | undefined;
  flags: FlagValues;
}

export class ValuesCache {
  private readonly key: string;

  constructor(
    private readonly storage: StorageLike | undefined,
    clientKey: string,
    private readonly logger: Logger,
  ) {
    // The client key is public, but a short hash keeps the storage key tidy.
    this.key = PREFIX + murmur3_32(new TextEncoder().encode(clientKey)).toString(16);
  }

  /** The cached values of `context`, if the last record is for it. */
  load(context: Context): { flags: FlagValues; version: number | undefined } | undefined {
    if (this.storage === undefined) return undefined;
    try {
      const text = this.storage.getItem(this.key);
      if (text === null) return undefined;
      const record = JSON.parse(text) as Partial<CacheRecord>;
      if (record.format !== FORMAT || record.context !== canonicalJson(context)) return undefined;
      if (typeof record.flags !== 'object' || record.flags === null) return undefined;
      return { flags: deepFreeze(record.flags), version: record.version };
    } catch (e) {
      this.logger.warn('cannot read cached flag values', e);
      return undefined;
    }
  }

  save(context: Context, version: number | undefined, flags: FlagValues): void {
    if (this.storage === undefined) return;
    const record: CacheRecord = { format: FORMAT, context: canonicalJson(context), version, flags };
    try {
      this.storage.setItem(this.key, JSON.stringify(record));
    } catch (e) {
      // Quota exceeded, storage disabled…: the client works without a cache.
      this.logger.warn('cannot cache flag values', e);
    }
  }
}
