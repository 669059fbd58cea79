/**
 * `@daylight/sdk/openfeature/server`: an OpenFeature provider for
 * `@openfeature/server-sdk`, backed by a server-key client. It evaluates
 * with the client's local ruleset, so OpenFeature and direct calls agree.
 *
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * import { DaylightServerProvider } from '@daylight/sdk/openfeature/server';
 * await OpenFeature.setProviderAndWait(new DaylightServerProvider({ url, serverKey }));
 * const on = await OpenFeature.getClient().getBooleanValue('new-lobby', false, { targetingKey: 'u-42', game: 'omaha' });
 * ```
 */
import {
  ErrorCode,
  GeneralError,
  OpenFeatureEventEmitter,
  ProviderEvents,
  ProviderFatalError,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';

import { errorDetail, type EvaluationDetail } from '../api/detail.js';
import { createServerClient, ServerClient, type ServerClientOptions } from '../node/index.js';
import { isObject, toDaylightContext, toResolution, type Resolution } from './mapping.js';

export interface DaylightServerProviderOptions {
  /** How long `initialize` waits for the first data (default: the client's `initTimeoutMs`). */
  initTimeoutMs?: number;
}

export class DaylightServerProvider implements Provider {
  readonly metadata = { name: 'daylight' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hooks = [];
  /** The client this provider evaluates with. */
  readonly client: ServerClient;
  private readonly owned: boolean;
  private readonly initTimeoutMs: number | undefined;
  /** The last status event emitted, to emit each transition once. */
  private announced: 'none' | 'ready' | 'stale' | 'error' = 'none';

  /** Takes a running client, or the options to start one (then closed by `onClose`). */
  constructor(client: ServerClient | ServerClientOptions, options: DaylightServerProviderOptions = {}) {
    this.owned = !(client instanceof ServerClient);
    this.client = client instanceof ServerClient ? client : createServerClient(client);
    this.initTimeoutMs = options.initTimeoutMs;
    this.client.on('change', ({ flags }) => {
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...flags] });
    });
    this.client.on('state', ({ state }) => {
      if (!this.client.isReady() || this.announced === 'none') return;
      if (state === 'synced' || state === 'offline') this.announce('ready');
      else if (state === 'disconnected' || state === 'unauthorized') this.announce('stale');
      else if (state === 'stopped') this.announce('stale');
    });
    this.client.on('ready', () => {
      // Data after a failed initialize: the provider recovers.
      if (this.announced === 'error') this.announce('ready');
    });
  }

  /** Waits for the client's first data; throws when none came in time. */
  async initialize(_context?: EvaluationContext): Promise<void> {
    if (await this.client.waitForReady(this.initTimeoutMs)) {
      this.announced = 'ready';
      return;
    }
    this.announced = 'error';
    if (this.client.state === 'stopped') {
      throw new ProviderFatalError('the Daylight server and this SDK cannot talk (see the logs)');
    }
    throw new GeneralError(`no flag data yet (connection ${this.client.state}); serving defaults until it arrives`);
  }

  async onClose(): Promise<void> {
    if (this.owned) this.client.close();
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return resolution(flagKey, this.client.boolVariationDetail(flagKey, toDaylightContext(context), defaultValue));
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return resolution(flagKey, this.client.stringVariationDetail(flagKey, toDaylightContext(context), defaultValue));
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return resolution(flagKey, this.client.numberVariationDetail(flagKey, toDaylightContext(context), defaultValue));
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    const detail = this.client.jsonVariationDetail(flagKey, toDaylightContext(context), defaultValue);
    const typed: EvaluationDetail<T> =
      detail.variation !== null && !isObject(detail.value) ? errorDetail(defaultValue, 'TYPE_MISMATCH') : (detail as EvaluationDetail<T>);
    return resolution(flagKey, typed);
  }

  private announce(status: 'ready' | 'stale' | 'error'): void {
    if (this.announced === status) return;
    this.announced = status;
    const event = { ready: ProviderEvents.Ready, stale: ProviderEvents.Stale, error: ProviderEvents.Error }[status];
    this.events.emit(event);
  }
}

function resolution<T>(flagKey: string, detail: EvaluationDetail<T>): ResolutionDetails<T> {
  const r: Resolution<T> = toResolution(flagKey, detail);
  return { ...r, errorCode: r.errorCode === undefined ? undefined : ErrorCode[r.errorCode] };
}
