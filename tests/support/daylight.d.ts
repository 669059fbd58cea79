// Types of daylight.js, for the TypeScript suite (sdk-js/test).
import type { ChildProcess } from 'node:child_process';

export declare const REPO_ROOT: string;
export declare const CHROMIUM: string;
export declare const CHROMIUM_ARGS: string[];

export declare function sleep(ms: number): Promise<void>;
/** A port nobody listens on right now (bind 0, read it, let it go). */
export declare function freePort(): Promise<number>;
/** DAYLIGHT_BIN, else $CARGO_TARGET_DIR/debug/daylight, else <repo>/target/debug/daylight. */
export declare function daylightBinary(): string;
/** Fails early, with what to do, when the Daylight binary is missing. */
export declare function checkDaylight(): void;
/** Fails early, with what to do, when the binary or Chromium is missing. */
export declare function checkBinaries(): void;

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  expect?: number;
  token?: string;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** A private server; suites extend it with their own helpers. */
export declare class Daylight {
  /** Extra environment of every server of this class (a suite's subclass sets its own). */
  static defaultEnv: Record<string, string>;

  adminToken: string;
  dir: string;
  /** What the process printed (every run). */
  log: string;
  /** Extra environment of every run. */
  env: Record<string, string>;
  port: number;
  child: ChildProcess | undefined;
  exited: Promise<void>;

  /**
   * Starts a server of this class on a free port with a new database and
   * extra environment `env` (over the class's `defaultEnv`); resolves once
   * /healthz answers.
   */
  static start<T extends typeof Daylight>(this: T, env?: Record<string, string>): Promise<InstanceType<T>>;

  get url(): string;
  get running(): boolean;
  output(): string;
  /** (Re)starts the process on the same port and database; resolves once /healthz answers. */
  launch(): Promise<void>;
  /** Kills the process (SIGKILL: no goodbye to the SDKs) and waits for it. */
  kill(): Promise<void>;
  /** Stops the process (SIGTERM, SIGKILL after 3 s) and removes the database. */
  stop(): Promise<void>;
  /** One API call with the admin token (or `token`); throws with the body unless the status is `expect`. */
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
}
