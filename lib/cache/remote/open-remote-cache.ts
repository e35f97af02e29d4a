/**
 * Which remote cache a run uses: `--remote-cache URL` (else `$FCOS_REMOTE_CACHE`) and
 * `--remote-cache-mode` (else `$FCOS_REMOTE_CACHE_MODE`, else readwrite). The S3 implementation
 * is imported only when an `s3://` URL is given, so that a run with an HTTP remote or none never
 * loads the AWS SDK.
 */
import { HttpRemoteCache } from './http-remote-cache.ts';
import {
  REMOTE_CACHE_MODES,
  type RemoteCache,
  type RemoteCacheMode,
  RemoteCacheUrlError,
} from './remote-cache.ts';

/** The environment variable naming the remote cache when `--remote-cache` is not given. */
export const REMOTE_CACHE_VARIABLE = 'FCOS_REMOTE_CACHE';
/** The environment variable holding the mode when `--remote-cache-mode` is not given. */
export const REMOTE_CACHE_MODE_VARIABLE = 'FCOS_REMOTE_CACHE_MODE';
/** The environment variable holding a bearer token for an HTTP remote. */
export const REMOTE_CACHE_TOKEN_VARIABLE = 'FCOS_REMOTE_CACHE_TOKEN';

/** A remote cache URL as given, with where it came from (for messages). */
export interface RemoteCacheSetting {
  /** The URL. */
  readonly url: string;
  /** `--remote-cache` or the environment variable. */
  readonly source: string;
}

/** The remote cache asked for by `option` or the environment; undefined for none (an empty value counts as unset). */
export function remoteCacheSetting(
  option: string | undefined,
  environment: NodeJS.ProcessEnv = process.env,
): RemoteCacheSetting | undefined {
  if (option !== undefined) return { url: option, source: '--remote-cache' };
  const value = environment[REMOTE_CACHE_VARIABLE];
  return value ? { url: value, source: REMOTE_CACHE_VARIABLE } : undefined;
}

/** The mode asked for by `option` or the environment (readwrite by default). */
export function remoteCacheMode(
  option: string | undefined,
  environment: NodeJS.ProcessEnv = process.env,
): RemoteCacheMode {
  const [value, source] =
    option !== undefined
      ? [option, '--remote-cache-mode']
      : [environment[REMOTE_CACHE_MODE_VARIABLE] || 'readwrite', REMOTE_CACHE_MODE_VARIABLE];
  if (!(REMOTE_CACHE_MODES as readonly string[]).includes(value))
    throw new RemoteCacheUrlError(`${source} takes ${REMOTE_CACHE_MODES.join(', ')}, not '${value}'`, {
      field: source,
    });
  return value as RemoteCacheMode;
}

/** Opens the remote cache of `setting`: `s3://bucket[/prefix]` or `http(s)://host[/prefix]`. */
export async function openRemoteCache(
  setting: RemoteCacheSetting,
  environment: NodeJS.ProcessEnv = process.env,
): Promise<RemoteCache> {
  let url: URL;
  try {
    url = new URL(setting.url);
  } catch {
    throw new RemoteCacheUrlError(
      `${setting.source}: '${redactUrl(setting.url)}' is not a URL (expected s3://bucket/prefix or http(s)://host/prefix)`,
      { field: setting.source },
    );
  }
  if (url.protocol === 'http:' || url.protocol === 'https:')
    return new HttpRemoteCache(url, environment[REMOTE_CACHE_TOKEN_VARIABLE]);
  if (url.protocol === 's3:') {
    if (url.hostname === '' || url.username !== '' || url.search !== '')
      throw new RemoteCacheUrlError(
        `${setting.source}: '${redactUrl(setting.url)}' must be s3://bucket[/prefix] (credentials come from the AWS SDK chain, never the URL)`,
        { field: setting.source },
      );
    const { S3RemoteCache } = await import('./s3-remote-cache.ts');
    return new S3RemoteCache(url.hostname, decodeURIComponent(url.pathname), environment);
  }
  throw new RemoteCacheUrlError(
    `${setting.source}: '${redactUrl(setting.url)}' uses ${url.protocol.replace(/:$/, '')}; fcos-cdk speaks s3:// and http(s)://`,
    { field: setting.source },
  );
}

/** `url` with any user information replaced, so that a password never reaches a message. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
