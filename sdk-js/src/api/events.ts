/**
 * What the clients tell their listeners (`client.on(event, listener)`).
 */

/** Where a client's connection to the server stands. */
export type ConnectionState =
  /** No server: the client evaluates bootstrap data only. */
  | 'offline'
  /** Connecting, or connected and catching up. */
  | 'connecting'
  /** Connected and up to date; changes arrive as they are made. */
  | 'synced'
  /** Waiting to reconnect (back-off); last known values are served. */
  | 'disconnected'
  /** The server refused the key; retrying after a long back-off. */
  | 'unauthorized'
  /** No shared protocol version, or the wrong kind of key: no more connecting. */
  | 'stopped'
  /** `close()` was called. */
  | 'closed';

/** A change of a client's flags. */
export interface ChangeEvent {
  /**
   * The flags whose value may have changed, sorted. For a server-key client:
   * flags added, changed or removed, flags using a changed segment, and flags
   * having any of those as a prerequisite. For a browser client: flags whose
   * value or variation changed, appeared or disappeared.
   */
  readonly flags: readonly string[];
  /** The server's ruleset version after the change, when known. */
  readonly version: number | undefined;
}

/** A problem the client ran into; it keeps serving its last known values. */
export interface StreamErrorEvent {
  /**
   * The server's error code (`unauthorized`, `bad_message`,
   * `unsupported_protocol`, `slow_consumer`, `shutting_down`, …) or one of
   * the SDK's: `wrong_key_kind`, `invalid_snapshot`, `connect_failed`.
   */
  readonly code: string;
  readonly message: string;
}

export interface StateEvent {
  readonly state: ConnectionState;
}

/** Events of both clients. */
export interface ClientEvents {
  /** The client has flag data for the first time. */
  ready: undefined;
  change: ChangeEvent;
  error: StreamErrorEvent;
  state: StateEvent;
  [event: string]: unknown;
}
