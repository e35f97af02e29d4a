/**
 * Action keys: the identity of a node's work. sha256 over canonical JSON of what decides the
 * output — kind, kind version, canonical props, the digests of the inputs and the runner's
 * fingerprint — and nothing else: no timestamps, absolute paths or host names.
 */
import { createHash } from 'node:crypto';
import { diffKeyMaterial } from '../cache/explain.ts';
import { canonicalStringify, type JsonValue } from '../util/canonical-json.ts';

/** Everything an action key is computed from; kept in the cache to explain the next miss. */
export interface KeyMaterial {
  /** Node kind. */
  readonly kind: string;
  /** Kind version. */
  readonly kindVersion: number;
  /** Canonical props. */
  readonly props: JsonValue;
  /** Digest of each input, by field. */
  readonly inputs: Readonly<Record<string, string>>;
  /** What the runner's fingerprint returned (null without one). */
  readonly fingerprint: JsonValue;
}

/** The action key of `material`. */
export function actionKey(material: KeyMaterial): string {
  return createHash('sha256').update(canonicalStringify(material)).digest('hex');
}

/** Why `current` differs from `previous`, as short sentences (empty when they are equal). */
export function explainDifference(previous: KeyMaterial, current: KeyMaterial): string[] {
  const reasons: string[] = [];
  if (previous.kind !== current.kind || previous.kindVersion !== current.kindVersion) {
    reasons.push(
      `kind changed: ${previous.kind} v${previous.kindVersion} -> ${current.kind} v${current.kindVersion}`,
    );
  }
  for (const change of diffKeyMaterial(previous.props, current.props)) {
    reasons.push(`prop '${change.path}' ${change.change}`);
  }
  const inputNames = new Set([...Object.keys(previous.inputs), ...Object.keys(current.inputs)]);
  for (const name of [...inputNames].sort()) {
    const before = previous.inputs[name];
    const after = current.inputs[name];
    if (before !== after) {
      reasons.push(
        before === undefined
          ? `input '${name}' added`
          : after === undefined
            ? `input '${name}' removed`
            : `input '${name}' changed (${before.slice(0, 12)} -> ${after.slice(0, 12)})`,
      );
    }
  }
  for (const change of diffKeyMaterial(previous.fingerprint, current.fingerprint)) {
    reasons.push(
      change.path === '' ? 'fingerprint changed' : `fingerprint '${change.path}' ${change.change}`,
    );
  }
  return reasons;
}
