import { ConfigurationError } from '../api/errors.js';

/** The stream's path, added when a URL names only a host. */
export const STREAM_PATH = '/sdk/v1/stream';

/**
 * The stream URL from what the user gave: `ws://` / `wss://`, or
 * `http://` / `https://` read as such; a URL naming only a host gets the
 * stream's path (the same rules as the Rust SDK).
 */
export function streamUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`invalid stream URL ${JSON.stringify(url)}: expected ws://, wss://, http:// or https://`);
  }
  const scheme = { 'ws:': 'ws:', 'http:': 'ws:', 'wss:': 'wss:', 'https:': 'wss:' }[parsed.protocol];
  if (scheme === undefined || parsed.host === '') {
    throw new ConfigurationError(`invalid stream URL ${JSON.stringify(url)}: expected ws://, wss://, http:// or https:// and a host`);
  }
  const path = parsed.pathname === '' || parsed.pathname === '/' ? STREAM_PATH : parsed.pathname;
  return `${scheme}//${parsed.host}${path}${parsed.search}`;
}
