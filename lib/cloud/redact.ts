/**
 * Secret redaction for everything a cloud upload says (errors, log lines): values of secret
 * environment variables and secret-looking tokens (signatures, keys, bearer tokens) become `***`,
 * so that no credential reaches a log, an event or a cache record.
 */

/** Names of environment variables whose values are secrets wherever they appear. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|KEY|HEADER|CREDENTIAL|SAS|CONNECTION_STRING|SIGNATURE/i;
/** Shapes of secrets inside texts: signatures, keys and bearer tokens in headers and URLs. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /(authorization["']?\s*[:=]\s*["']?)[^"',\r\n]+/gi,
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /((?:x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature|accountkey|sharedaccesssignature|access_token|refresh_token|client_secret)["']?\s*[=:]\s*["']?)[^&;"'\s]+/gi,
];

/** `text` with every secret environment value and every secret-looking token replaced by `***`. */
export function redactSecrets(text: string): string {
  let result = text;
  for (const [name, value] of Object.entries(process.env)) {
    if (value && value.length >= 8 && SECRET_NAME.test(name)) result = result.split(value).join('***');
  }
  for (const pattern of SECRET_PATTERNS) result = result.replace(pattern, '$1***');
  return result;
}
