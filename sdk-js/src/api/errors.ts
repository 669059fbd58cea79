/**
 * The SDK's error classes: small, each with a stable `code`. Evaluation never
 * throws (it returns the caller's default with an `ERROR` reason); these are
 * for documents that do not compile and for options that make no sense.
 */

/** The base class: `code` says what went wrong, for programs. */
export class DaylightError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A flag, segment or ruleset document that cannot be compiled. `path` names
 * the offending field, e.g. `flags.new-lobby.rules[2].clauses[0].values[1]`
 * (the same paths as the Rust SDK's `ValidationError`).
 */
export class ValidationError extends DaylightError {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super('invalid_document', path ? `${path}: ${reason}` : reason);
    this.path = path;
    this.reason = reason;
  }
}

/** A client option that cannot work (a bad URL, a missing key…). */
export class ConfigurationError extends DaylightError {
  constructor(message: string) {
    super('invalid_configuration', message);
  }
}
