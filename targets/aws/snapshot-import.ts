/**
 * Importing the staged vmdk as an EBS snapshot (ImportSnapshot), resuming an import task an earlier
 * run started, and waiting for the task with its status messages.
 */
import { CloudTaskFailedError } from '../../lib/cloud/errors.ts';
import { pollUntil } from '../../lib/cloud/polling.ts';
import type { CloudUploadContext } from '../../lib/cloud/uploader.ts';
import type { AwsOptions } from './index.ts';
import { objectKey, stageObject } from './s3-staging.ts';
import { AWS_DIGEST_TAG, type AwsSession, awsCall, ec2Of, imageTags, waitOptions } from './session.ts';

/** Imports the vmdk as a snapshot: resumes a running import, or stages the object and starts one. */
export async function importSnapshot(
  session: AwsSession,
  context: CloudUploadContext<AwsOptions>,
): Promise<string> {
  const { ImportSnapshotCommand } = session.sdk.ec2;
  const region = session.options.region;
  let taskId = await findImportTask(session);
  if (taskId) {
    context.log(`resuming import task ${taskId} (started by an earlier run)`);
  } else {
    await stageObject(session, context);
    const result = await awsCall(session, 'ImportSnapshot', region, () =>
      ec2Of(session, region).send(
        new ImportSnapshotCommand({
          Description: session.name,
          DiskContainer: {
            Description: session.name,
            Format: 'VMDK',
            UserBucket: { S3Bucket: session.options.bucket, S3Key: objectKey(session) },
          },
          RoleName: session.options.roleName,
          TagSpecifications: [{ ResourceType: 'import-snapshot-task', Tags: imageTags(session) }],
        }),
        { abortSignal: session.signal },
      ),
    );
    taskId = result.ImportTaskId!;
    context.log(`import task ${taskId} started (role ${session.options.roleName})`);
  }
  const snapshotId = await waitForImportTask(session, taskId);
  const { CreateTagsCommand } = session.sdk.ec2;
  await awsCall(session, 'CreateTags', region, () =>
    ec2Of(session, region).send(
      new CreateTagsCommand({ Resources: [snapshotId], Tags: imageTags(session) }),
      {
        abortSignal: session.signal,
      },
    ),
  );
  context.log(`snapshot ${snapshotId} imported and tagged`);
  return snapshotId;
}

/**
 * The id of an import task for this digest that is still running, or that completed into a
 * snapshot that still exists (a run killed before it tagged the snapshot).
 */
export async function findImportTask(session: AwsSession): Promise<string | undefined> {
  const { paginateDescribeImportSnapshotTasks, DescribeSnapshotsCommand } = session.sdk.ec2;
  const region = session.options.region;
  const active: string[] = [];
  const completed: Array<{ taskId: string; snapshotId: string }> = [];
  await awsCall(session, 'DescribeImportSnapshotTasks', region, async () => {
    for await (const page of paginateDescribeImportSnapshotTasks({ client: ec2Of(session, region) }, {})) {
      for (const task of page.ImportSnapshotTasks ?? []) {
        const ours = task.Tags?.some((tag) => tag.Key === AWS_DIGEST_TAG && tag.Value === session.digest);
        const detail = task.SnapshotTaskDetail;
        if (!ours || !task.ImportTaskId) continue;
        if (detail?.Status === 'active') active.push(task.ImportTaskId);
        if (detail?.Status === 'completed' && detail.SnapshotId)
          completed.push({ taskId: task.ImportTaskId, snapshotId: detail.SnapshotId });
      }
    }
  });
  if (active[0]) return active[0];
  for (const { taskId, snapshotId } of completed) {
    const exists = await ec2Of(session, region)
      .send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: session.signal })
      .then((result) => (result.Snapshots ?? []).length > 0)
      .catch(() => false);
    if (exists) return taskId;
  }
  return undefined;
}

/** Waits for an import task; its snapshot id, or a clear error with the task's status message. */
export async function waitForImportTask(session: AwsSession, taskId: string): Promise<string> {
  const { DescribeImportSnapshotTasksCommand } = session.sdk.ec2;
  const region = session.options.region;
  let lastStatus = '';
  return pollUntil(
    waitOptions(session, `DescribeImportSnapshotTasks ${taskId}`, `import task ${taskId}`),
    async () => {
      const result = await awsCall(session, 'DescribeImportSnapshotTasks', region, () =>
        ec2Of(session, region).send(new DescribeImportSnapshotTasksCommand({ ImportTaskIds: [taskId] }), {
          abortSignal: session.signal,
        }),
      );
      const detail = result.ImportSnapshotTasks?.[0]?.SnapshotTaskDetail;
      const status = `${detail?.Status ?? 'unknown'}${detail?.StatusMessage ? ` (${detail.StatusMessage})` : ''}`;
      if (status !== lastStatus)
        session.log(`import task ${taskId}: ${status}${detail?.Progress ? `, ${detail.Progress}%` : ''}`);
      lastStatus = status;
      if (detail?.Status === 'completed' && detail.SnapshotId) return detail.SnapshotId;
      if (detail?.Status === 'active' || detail?.Status === undefined) return undefined;
      throw new CloudTaskFailedError(
        'aws',
        `ImportSnapshot (${region})`,
        `import task ${taskId} of s3://${session.options.bucket}/${objectKey(session)} failed: ${detail.Status}: ${detail.StatusMessage ?? 'no status message'}`,
        session.nodePath,
      );
    },
  );
}
