/**
 * A context as the evaluator reads it: the targeting key plus attributes of
 * the four supported kinds. Reading drops every other value (it counts as
 * missing), like the Rust SDK's `Context::from_json`.
 */
import type { Context } from '../api/context.js';

/** An attribute value the operators can see. */
export type AttrValue = string | number | boolean | readonly string[];

export class EvalContext {
  /** The targeting key, when there is one. */
  readonly key: string | undefined;
  private readonly attributes: Map<string, AttrValue>;

  private constructor(key: string | undefined, attributes: Map<string, AttrValue>) {
    this.key = key;
    this.attributes = attributes;
  }

  /**
   * Reads a context object; `undefined` when it is not an object or its
   * `key` is present but not a string (the Rust SDK refuses those too).
   */
  static read(context: Context | undefined): EvalContext | undefined {
    if (context === undefined) return new EvalContext(undefined, new Map());
    if (typeof context !== 'object' || context === null || Array.isArray(context)) return undefined;
    let key: string | undefined;
    const attributes = new Map<string, AttrValue>();
    for (const name of Object.keys(context)) {
      const value: unknown = context[name];
      if (value === undefined) continue; // absent, as JSON would have it
      if (name === 'key') {
        if (typeof value !== 'string') return undefined;
        key = value;
        continue;
      }
      const attr = attrValue(value);
      if (attr !== undefined) attributes.set(name, attr);
    }
    return new EvalContext(key, attributes);
  }

  /** The attribute `name`; `key` is the targeting key. */
  get(name: string): AttrValue | undefined {
    return name === 'key' ? this.key : this.attributes.get(name);
  }
}

function attrValue(value: unknown): AttrValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no NaN or infinities: such a number would be `null`.
      return Number.isFinite(value) ? value : undefined;
    case 'object':
      if (!Array.isArray(value)) return undefined;
      for (let i = 0; i < value.length; i++) {
        if (typeof value[i] !== 'string') return undefined;
      }
      return value.slice() as string[];
    default:
      return undefined;
  }
}
