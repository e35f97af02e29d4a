/**
 * The GCE image: created from the tarball (images.insert with the digest labels), its global
 * operation waited for, an image another run started waited for, and the public IAM binding.
 */
import { randomUUID } from 'node:crypto';
import type { protos } from '@google-cloud/compute';
import { CloudTaskFailedError } from '../../lib/cloud/errors.ts';
import { pollUntil } from '../../lib/cloud/polling.ts';
import { findImage, GCE_DIGEST_LABELS } from './lookup.ts';
import { type GceSession, gceCall, operationsOf } from './session.ts';

/** The IAM role and member of a public image. */
const PUBLIC_BINDING = { role: 'roles/compute.imageUser', member: 'allAuthenticatedUsers' };

/** Starts an operation (retrying throttling with the same request id); the operation. */
export async function startOperation(
  session: GceSession,
  call: string,
  start: () => Promise<[{ latestResponse?: unknown }, ...unknown[]]>,
): Promise<protos.google.cloud.compute.v1.IOperation> {
  const [operation] = await gceCall(session, call, start);
  return operation.latestResponse as protos.google.cloud.compute.v1.IOperation;
}

/** Creates the image from the tarball (raw disk, arch, family, guest OS features, digest labels) and waits. */
export async function insertImage(session: GceSession): Promise<void> {
  const { project, bucket, family } = session.options;
  const features = ['VIRTIO_SCSI_MULTIQUEUE', 'GVNIC', 'UEFI_COMPATIBLE'];
  if (session.arch === 'x86_64') features.push('SEV_CAPABLE', 'SEV_SNP_CAPABLE');
  const requestId = randomUUID();
  const operation = await startOperation(session, 'images.insert', () =>
    session.images.insert({
      project,
      requestId,
      imageResource: {
        name: session.name,
        description: `Fedora CoreOS ${session.arch} (sha256 ${session.digest})`,
        ...(family ? { family } : {}),
        architecture: session.arch === 'x86_64' ? 'X86_64' : 'ARM64',
        rawDisk: { source: `https://storage.googleapis.com/${bucket}/${session.objectName}` },
        guestOsFeatures: features.map((type) => ({ type })),
        labels: {
          [GCE_DIGEST_LABELS[0]]: session.digest.slice(0, 32),
          [GCE_DIGEST_LABELS[1]]: session.digest.slice(32),
        },
      },
    }),
  );
  session.log(`creating image ${session.name} (operation ${operation.name})`);
  await waitForOperation(session, 'images.insert', operation);
  session.log(`created image ${session.name} in ${project}`);
}

/** Waits for a global operation to be DONE; a clear error with its errors if it failed. */
export async function waitForOperation(
  session: GceSession,
  call: string,
  started: protos.google.cloud.compute.v1.IOperation,
): Promise<void> {
  let operation = started;
  const options = {
    cloud: 'gce' as const,
    call: `globalOperations.wait ${started.name}`,
    what: `operation ${started.name} (${call})`,
    nodePath: session.nodePath,
    intervalMs: session.options.pollIntervalSeconds * 1000,
    timeoutMs: session.options.waitTimeoutMinutes * 60_000,
    signal: session.signal,
  };
  const done = await pollUntil(options, async () => {
    if (String(operation.status) === 'DONE') return operation;
    [operation] = await gceCall(session, 'globalOperations.wait', () =>
      operationsOf(session).wait({ project: session.options.project, operation: String(started.name) }),
    );
    return String(operation.status) === 'DONE' ? operation : undefined;
  });
  const errors = done.error?.errors ?? [];
  if (errors.length > 0) {
    throw new CloudTaskFailedError(
      'gce',
      call,
      `operation ${started.name} failed: ${errors.map((error) => `${error.code}: ${error.message}`).join('; ')}`,
      session.nodePath,
    );
  }
}

/** Waits until an image another run started is READY. */
export async function waitForImageReady(session: GceSession): Promise<void> {
  const options = {
    cloud: 'gce' as const,
    call: 'images.get',
    what: `image ${session.name} to become READY`,
    nodePath: session.nodePath,
    intervalMs: session.options.pollIntervalSeconds * 1000,
    timeoutMs: session.options.waitTimeoutMinutes * 60_000,
    signal: session.signal,
  };
  await pollUntil(options, async () => {
    const image = await findImage(session);
    if (image?.status === 'READY') return true;
    if (!image || image.status === 'FAILED') {
      throw new CloudTaskFailedError(
        'gce',
        'images.insert',
        `image ${session.name} ${image ? 'failed' : 'disappeared'} while an earlier run was creating it`,
        session.nodePath,
      );
    }
    return undefined;
  });
}

/** Grants allAuthenticatedUsers the image user role (kept if already there). */
export async function makePublic(session: GceSession): Promise<void> {
  const { project } = session.options;
  const [policy] = await gceCall(session, 'images.getIamPolicy', () =>
    session.images.getIamPolicy({ project, resource: session.name }),
  );
  const bindings = policy.bindings ?? [];
  const binding = bindings.find((candidate) => candidate.role === PUBLIC_BINDING.role);
  if (binding?.members?.includes(PUBLIC_BINDING.member)) return;
  if (binding) binding.members = [...(binding.members ?? []), PUBLIC_BINDING.member];
  else bindings.push({ role: PUBLIC_BINDING.role, members: [PUBLIC_BINDING.member] });
  await gceCall(session, 'images.setIamPolicy', () =>
    session.images.setIamPolicy({
      project,
      resource: session.name,
      globalSetPolicyRequestResource: { policy: { ...policy, bindings } },
    }),
  );
  session.log(`granted ${PUBLIC_BINDING.member} ${PUBLIC_BINDING.role} on ${session.name}`);
}
