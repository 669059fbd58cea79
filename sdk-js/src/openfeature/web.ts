/**
 * `@daylight/sdk/openfeature/web`: an OpenFeature provider for
 * `@openfeature/web-sdk` (static context), backed by a browser (client-key)
 * client: the server evaluates for the context, `onContextChange` is
 * `identify`.
 *
 * ```ts
 * import { OpenFeature } from '@openfeature/web-sdk';
 * import { DaylightWebProvider } from '@daylight/sdk/openfeature/web';
 * await OpenFeature.setContext({ targetingKey: 'u-42' });
 * await OpenFeature.setProviderAndWait(new DaylightWebProvider({ url, clientKey }));
 * const on = OpenFeature.getClient().getBooleanValue('new-lobby', false);
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
  type ProviderEmittableEvents,
  type ResolutionDetails,
} from '@openfeature/web-sdk';

import { errorDetail, type EvaluationDetail } from '../api/detail.js';
import { BrowserClient, createBrowserClient, type BrowserClientOptions } from '../browser/index.js';
import { isObject, toDaylightContext, toResolution, type Resolution } from './mapping.js';

/** The browser client's options; the context comes from OpenFeature. */
export type DaylightWebProviderOptions = Omit<BrowserClientOptions, 'context'>;

export class DaylightWebProvider implements Provider {
  readonly metadata = { name: 'daylight' } as const;
  readonly runsOn = 'client' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hooks = [];
  private clientValue: BrowserClient | undefined;
  private readonly options: DaylightWebProviderOptions | undefined;
  private announced: 'none' | 'ready' | 'stale' | 'error' = 'none';

  /**
   * Takes the options of a client to start in `initialize` (with
   * OpenFeature's context; closed by `onClose`), or a running client.
   */
  constructor(options: DaylightWebProviderOptions | BrowserClient) {
    if (options instanceof BrowserClient) this.attach(options);
    else this.options = options;
  }

  /** The client, once `initialize` has started it. */
  get client(): BrowserClient | undefined {
    return this.clientValue;
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    let client = this.clientValue;
    if (client === undefined) {
      client = createBrowserClient({ ...this.options!, context: toDaylightContext(context) });
      this.attach(client);
    } else if (context !== undefined && Object.keys(context).length > 0) {
      await client.identify(toDaylightContext(context));
    }
    if (await client.waitForReady()) {
      this.announced = 'ready';
      return;
    }
    this.announced = 'error';
    if (client.state === 'stopped') throw new ProviderFatalError('the Daylight server refused this client (see the logs)');
    throw new GeneralError(`no flag values yet (connection ${client.state}); serving defaults until they arrive`);
  }

  /** OpenFeature's context changed: the server evaluates for the new one. */
  async onContextChange(_old: EvaluationContext, context: EvaluationContext): Promise<void> {
    const client = this.clientValue;
    if (client === undefined) return;
    if (!(await client.identify(toDaylightContext(context)))) {
      throw new GeneralError('no values for the new context yet; they will follow when the server answers');
    }
  }

  async onClose(): Promise<void> {
    if (this.options !== undefined) this.clientValue?.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean): ResolutionDetails<boolean> {
    return this.resolve(flagKey, defaultValue, (c) => c.boolVariationDetail(flagKey, defaultValue));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string): ResolutionDetails<string> {
    return this.resolve(flagKey, defaultValue, (c) => c.stringVariationDetail(flagKey, defaultValue));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number): ResolutionDetails<number> {
    return this.resolve(flagKey, defaultValue, (c) => c.numberVariationDetail(flagKey, defaultValue));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): ResolutionDetails<T> {
    return this.resolve(flagKey, defaultValue, (c) => {
      const detail = c.jsonVariationDetail(flagKey, defaultValue);
      return detail.variation !== null && !isObject(detail.value)
        ? errorDetail(defaultValue, 'TYPE_MISMATCH')
        : (detail as EvaluationDetail<T>);
    });
  }

  private resolve<T>(flagKey: string, defaultValue: T, read: (client: BrowserClient) => EvaluationDetail<T>): ResolutionDetails<T> {
    const client = this.clientValue;
    const detail = client === undefined ? errorDetail(defaultValue, 'PROVIDER_NOT_READY') : read(client);
    const r: Resolution<T> = toResolution(flagKey, detail);
    return { ...r, errorCode: r.errorCode === undefined ? undefined : ErrorCode[r.errorCode] };
  }

  private attach(client: BrowserClient): void {
    this.clientValue = client;
    client.on('change', ({ flags }) => {
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...flags] });
    });
    client.on('state', ({ state }) => {
      if (!client.isReady() || this.announced === 'none') return;
      if (state === 'synced') this.announce('ready');
      else if (state === 'disconnected' || state === 'unauthorized' || state === 'stopped') this.announce('stale');
    });
  }

  private announce(status: 'ready' | 'stale' | 'error'): void {
    if (this.announced === status) return;
    this.announced = status;
    const event: ProviderEmittableEvents =
      status === 'ready' ? ProviderEvents.Ready : status === 'stale' ? ProviderEvents.Stale : ProviderEvents.Error;
    this.events.emit(event);
  }
}
