import type { Logger } from '../api/platform.js';

/** The default: warnings and errors to the console, prefixed; debug and info dropped. */
export function defaultLogger(): Logger {
  const prefix = '[daylight]';
  return {
    debug: () => {},
    info: () => {},
    warn: (message, ...details) => console.warn(prefix, message, ...details),
    error: (message, ...details) => console.error(prefix, message, ...details),
  };
}
