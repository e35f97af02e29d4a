/**
 * A stateful test double of the EC2 control plane, speaking its wire protocol (the Query protocol:
 * form-encoded `Action=...` POSTs, XML responses and errors), so that the real @aws-sdk/client-ec2
 * is what the code under test calls. It keeps per-region state (from the SigV4 credential scope):
 * import snapshot tasks that read the staged object and fail on a file that is not a VMDK,
 * snapshots, AMIs with their tags and launch permissions, and copies between regions. Tests can
 * make calls throttle, hang (to kill the client mid-run), and read what was called.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RunningServer, readBody, startServer } from './http-double.ts';

/** A query parameter tree: `Filter.1.Value.1=x` becomes `{ Filter: [{ Value: ['x'] }] }`. */
type Params = { [key: string]: string | Params | Params[] | string[] };

/** A tag. */
interface TagEntry {
  readonly key: string;
  readonly value: string;
}

/** An import snapshot task. */
interface ImportTask {
  readonly id: string;
  readonly bucket: string;
  readonly key: string;
  readonly roleName: string;
  status: 'active' | 'completed' | 'deleted';
  statusMessage: string;
  snapshotId?: string;
  polls: number;
  readonly tags: TagEntry[];
}

/** An EBS snapshot. */
interface SnapshotEntry {
  readonly id: string;
  readonly size: number;
  readonly tags: TagEntry[];
}

/** An AMI. */
export interface ImageEntry {
  readonly id: string;
  readonly region: string;
  readonly name: string;
  readonly description: string;
  readonly architecture: string;
  readonly snapshotId: string;
  readonly rootDeviceName: string;
  readonly volumeType: string;
  readonly deleteOnTermination: boolean;
  readonly enaSupport: boolean;
  readonly sriovNetSupport: string;
  readonly bootMode: string;
  readonly imdsSupport: string | undefined;
  readonly virtualizationType: string;
  state: 'pending' | 'available' | 'deregistered';
  polls: number;
  readonly tags: TagEntry[];
  readonly launchPermissions: string[];
}

/** One region's state. */
interface RegionState {
  readonly tasks: Map<string, ImportTask>;
  readonly snapshots: Map<string, SnapshotEntry>;
  readonly images: Map<string, ImageEntry>;
}

/** One call the double received. */
export interface Ec2Call {
  readonly action: string;
  readonly region: string;
  readonly accessKeyId: string;
}

/** What a hook may do with a call before it is handled. */
export type CallVerdict = 'continue' | 'hang';

/** Options of {@link Ec2TestDouble}. */
export interface Ec2TestDoubleOptions {
  /** Reads a staged object (the S3 the test runs); undefined when it does not exist. */
  readonly readObject: (bucket: string, key: string) => Promise<Buffer | undefined>;
  /**
   * Polls an import task stays active before it completes.
   * @default 1
   */
  readonly importPolls?: number;
  /**
   * Polls an AMI stays pending before it is available.
   * @default 1
   */
  readonly pendingPolls?: number;
}

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const OWNER = '123456789012';

/** The EC2 test double. */
export class Ec2TestDouble {
  /** Every call received, in order. */
  readonly calls: Ec2Call[] = [];
  /** Calls of an action to answer with RequestLimitExceeded (503) before serving them. */
  readonly throttle = new Map<string, number>();
  /** Actions the caller is not allowed (answered with UnauthorizedOperation, 403). */
  readonly denied = new Set<string>();
  /** Called before each action is handled; `hang` leaves the request unanswered. */
  onCall: (action: string, params: Params) => CallVerdict = () => 'continue';
  private readonly regions = new Map<string, RegionState>();
  private server: RunningServer | undefined;
  private counter = 0;

  constructor(private readonly options: Ec2TestDoubleOptions) {}

  /** Starts listening on a loopback port; returns the endpoint URL. */
  async start(): Promise<string> {
    this.server = await startServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.error(response, 500, 'InternalError', String(error));
      });
    });
    return this.server.url;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    await this.server?.close();
  }

  /** How many calls of `action` were received. */
  count(action: string): number {
    return this.calls.filter((call) => call.action === action).length;
  }

  /** The AMIs of `region`. */
  images(region: string): ImageEntry[] {
    return [...this.region(region).images.values()];
  }

  /** Removes an AMI as if deregistered in the console (its snapshot too, like a cleanup would). */
  deleteImage(region: string, imageId: string): void {
    const state = this.region(region);
    const image = state.images.get(imageId);
    if (!image) return;
    state.images.delete(imageId);
    state.snapshots.delete(image.snapshotId);
  }

  /** The state of `region`, created on first use. */
  private region(name: string): RegionState {
    let state = this.regions.get(name);
    if (!state) {
      state = { tasks: new Map(), snapshots: new Map(), images: new Map() };
      this.regions.set(name, state);
    }
    return state;
  }

  /** A new resource id with `prefix`. */
  private newId(prefix: string): string {
    this.counter++;
    return `${prefix}-${this.counter.toString(16).padStart(17, '0')}`;
  }

  /** Handles one request. */
  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = (await readBody(request)).toString('utf8');
    const params = parseQuery(body);
    const action = typeof params.Action === 'string' ? params.Action : '';
    const authorization = String(request.headers.authorization ?? '');
    const scope = /Credential=([^/]+)\/\d+\/([^/]+)\/ec2\//.exec(authorization);
    if (!scope)
      return this.error(
        response,
        401,
        'AuthFailure',
        'AWS was not able to validate the provided access credentials',
      );
    const [, accessKeyId, region] = scope as unknown as [string, string, string];
    this.calls.push({ action, region, accessKeyId });
    const throttled = this.throttle.get(action) ?? 0;
    if (throttled > 0) {
      this.throttle.set(action, throttled - 1);
      return this.error(response, 503, 'RequestLimitExceeded', 'Request limit exceeded.');
    }
    if (this.denied.has(action)) {
      return this.error(
        response,
        403,
        'UnauthorizedOperation',
        'You are not authorized to perform this operation.',
      );
    }
    if (this.onCall(action, params) === 'hang') return;
    const state = this.region(region);
    const handler = this.handlers[action];
    if (!handler)
      return this.error(
        response,
        400,
        'InvalidAction',
        `The action ${action} is not valid for this web service.`,
      );
    const result = await handler(state, params, region);
    if ('error' in result) return this.error(response, result.status ?? 400, result.error, result.message);
    response.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
    response.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NAMESPACE}"><requestId>${this.newId('req')}</requestId>${toXml(result.body)}</${action}Response>`,
    );
  }

  /** Writes an EC2 error response. */
  private error(response: ServerResponse, status: number, code: string, message: string): void {
    response.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
    response.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${this.newId('req')}</RequestID></Response>`,
    );
  }

  /** The actions, by name. */
  private readonly handlers: Record<
    string,
    (
      state: RegionState,
      params: Params,
      region: string,
    ) => Promise<{ body: XmlValue } | { error: string; message: string; status?: number }>
  > = {
    ImportSnapshot: async (state, params) => {
      const container = params.DiskContainer as Params;
      const bucketRef = container.UserBucket as Params;
      const task: ImportTask = {
        id: this.newId('import-snap'),
        bucket: String(bucketRef.S3Bucket),
        key: String(bucketRef.S3Key),
        roleName: String(params.RoleName ?? 'vmimport'),
        status: 'active',
        statusMessage: 'pending',
        polls: 0,
        tags: tagSpecifications(params, 'import-snapshot-task'),
      };
      state.tasks.set(task.id, task);
      return {
        body: {
          importTaskId: task.id,
          description: String(params.Description ?? ''),
          snapshotTaskDetail: { status: 'active', statusMessage: 'pending' },
          tagSet: task.tags,
        },
      };
    },
    DescribeImportSnapshotTasks: async (state, params) => {
      const ids = (params.ImportTaskId as string[] | undefined) ?? [];
      const tasks = ids.length > 0 ? ids.map((id) => state.tasks.get(id)) : [...state.tasks.values()];
      if (tasks.some((task) => !task))
        return { error: 'InvalidConversionTaskId.Malformed', message: 'unknown task' };
      for (const task of tasks as ImportTask[]) if (ids.length > 0) await this.advance(state, task);
      return {
        body: {
          importSnapshotTaskSet: (tasks as ImportTask[]).map((task) => ({
            importTaskId: task.id,
            snapshotTaskDetail: {
              status: task.status,
              statusMessage: task.statusMessage,
              ...(task.snapshotId ? { snapshotId: task.snapshotId } : {}),
              userBucket: { s3Bucket: task.bucket, s3Key: task.key },
              format: 'VMDK',
            },
            tagSet: task.tags,
          })),
        },
      };
    },
    DescribeSnapshots: async (state, params) => {
      const ids = (params.SnapshotId as string[] | undefined) ?? [];
      let snapshots = [...state.snapshots.values()];
      if (ids.length > 0) {
        const missing = ids.find((id) => !state.snapshots.has(id));
        if (missing)
          return { error: 'InvalidSnapshot.NotFound', message: `The snapshot '${missing}' does not exist.` };
        snapshots = snapshots.filter((snapshot) => ids.includes(snapshot.id));
      }
      snapshots = snapshots.filter((snapshot) =>
        matchesFilters(params, snapshot.tags, { status: 'completed' }),
      );
      return {
        body: {
          snapshotSet: snapshots.map((snapshot) => ({
            snapshotId: snapshot.id,
            status: 'completed',
            volumeSize: String(snapshot.size),
            ownerId: OWNER,
            tagSet: snapshot.tags,
          })),
        },
      };
    },
    CreateTags: async (state, params) => {
      const resources = (params.ResourceId as string[] | undefined) ?? [];
      const tags = tagList(params.Tag);
      for (const id of resources) {
        const target = state.snapshots.get(id) ?? state.images.get(id);
        if (!target) return { error: 'InvalidID', message: `The ID '${id}' is not valid` };
        for (const tag of tags) {
          const index = target.tags.findIndex((existing) => existing.key === tag.key);
          if (index >= 0) target.tags.splice(index, 1);
          target.tags.push(tag);
        }
      }
      return { body: { return: 'true' } };
    },
    RegisterImage: async (state, params, region) => {
      const mapping = (params.BlockDeviceMapping as Params[] | undefined)?.[0];
      const ebs = mapping?.Ebs as Params | undefined;
      const snapshotId = String(ebs?.SnapshotId ?? '');
      if (!state.snapshots.has(snapshotId))
        return { error: 'InvalidSnapshot.NotFound', message: `The snapshot '${snapshotId}' does not exist.` };
      const name = String(params.Name);
      if ([...state.images.values()].some((image) => image.name === name && image.state !== 'deregistered'))
        return { error: 'InvalidAMIName.Duplicate', message: `AMI name ${name} is already in use by AMI` };
      const image: ImageEntry = {
        id: this.newId('ami'),
        region,
        name,
        description: String(params.Description ?? ''),
        architecture: String(params.Architecture),
        snapshotId,
        rootDeviceName: String(params.RootDeviceName),
        volumeType: String(ebs?.VolumeType),
        deleteOnTermination: ebs?.DeleteOnTermination === 'true',
        enaSupport: params.EnaSupport === 'true',
        sriovNetSupport: String(params.SriovNetSupport),
        bootMode: String(params.BootMode),
        imdsSupport: typeof params.ImdsSupport === 'string' ? params.ImdsSupport : undefined,
        virtualizationType: String(params.VirtualizationType),
        state: 'pending',
        polls: 0,
        tags: tagSpecifications(params, 'image'),
        launchPermissions: [],
      };
      state.images.set(image.id, image);
      return { body: { imageId: image.id } };
    },
    DescribeImages: async (state, params) => {
      const ids = (params.ImageId as string[] | undefined) ?? [];
      let images = [...state.images.values()].filter((image) => image.state !== 'deregistered');
      if (ids.length > 0) {
        const missing = ids.find((id) => !state.images.has(id));
        if (missing)
          return { error: 'InvalidAMIID.NotFound', message: `The image id '[${missing}]' does not exist` };
        images = images.filter((image) => ids.includes(image.id));
        for (const image of images) this.advanceImage(image);
      }
      images = images.filter((image) => matchesFilters(params, image.tags, {}));
      return { body: { imagesSet: images.map((image) => describeImage(image)) } };
    },
    CopyImage: async (_state, params, region) => {
      const source = this.region(String(params.SourceRegion)).images.get(String(params.SourceImageId));
      if (!source)
        return {
          error: 'InvalidAMIID.NotFound',
          message: `The image id '[${params.SourceImageId}]' does not exist`,
        };
      const state = this.region(region);
      const snapshotId = this.newId('snap');
      const sourceSnapshot = this.region(source.region).snapshots.get(source.snapshotId);
      state.snapshots.set(snapshotId, { id: snapshotId, size: sourceSnapshot?.size ?? 8, tags: [] });
      const tags = tagSpecifications(params, 'image');
      if (params.CopyImageTags === 'true') {
        for (const tag of source.tags) if (!tags.some((existing) => existing.key === tag.key)) tags.push(tag);
      }
      const image: ImageEntry = {
        ...source,
        id: this.newId('ami'),
        region,
        name: String(params.Name),
        snapshotId,
        state: 'pending',
        polls: 0,
        tags,
        launchPermissions: [],
      };
      state.images.set(image.id, image);
      return { body: { imageId: image.id } };
    },
    ModifyImageAttribute: async (state, params) => {
      const image = state.images.get(String(params.ImageId));
      if (!image)
        return {
          error: 'InvalidAMIID.NotFound',
          message: `The image id '[${params.ImageId}]' does not exist`,
        };
      const add = ((params.LaunchPermission as Params | undefined)?.Add as Params[] | undefined) ?? [];
      for (const grant of add) {
        const who = String(grant.Group ?? grant.UserId);
        if (!image.launchPermissions.includes(who)) image.launchPermissions.push(who);
      }
      return { body: { return: 'true' } };
    },
  };

  /** Moves an import task along: reads the object on the first poll, completes after `importPolls`. */
  private async advance(state: RegionState, task: ImportTask): Promise<void> {
    if (task.status !== 'active') return;
    task.polls++;
    if (task.polls === 1) {
      task.statusMessage = 'validating';
      const content = await this.options.readObject(task.bucket, task.key);
      if (!content) {
        task.status = 'deleted';
        task.statusMessage = `ClientError: Unable to access the S3 object s3://${task.bucket}/${task.key}`;
      } else if (content.subarray(0, 4).toString('latin1') !== 'KDMV') {
        task.status = 'deleted';
        task.statusMessage = 'ClientError: Disk validation failed [Unsupported VMDK File Format]';
      } else {
        (task as { size?: number }).size = content.length;
      }
      return;
    }
    if (task.polls <= (this.options.importPolls ?? 1)) {
      task.statusMessage = 'converting';
      return;
    }
    const snapshotId = this.newId('snap');
    state.snapshots.set(snapshotId, { id: snapshotId, size: 8, tags: [] });
    task.status = 'completed';
    task.statusMessage = '';
    task.snapshotId = snapshotId;
  }

  /** Moves an AMI from pending to available after `pendingPolls`. */
  private advanceImage(image: ImageEntry): void {
    if (image.state !== 'pending') return;
    image.polls++;
    if (image.polls > (this.options.pendingPolls ?? 1)) image.state = 'available';
  }
}

/** An XML value: text, an object of elements, or a list (`<item>`s). */
type XmlValue = string | number | boolean | TagEntry[] | { readonly [key: string]: XmlValue } | XmlValue[];

/** Serializes a value as EC2 XML (lists as `<item>` elements). */
function toXml(value: XmlValue): string {
  if (Array.isArray(value)) return value.map((item) => `<item>${toXml(item as XmlValue)}</item>`).join('');
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .map(([name, member]) => `<${name}>${toXml(member as XmlValue)}</${name}>`)
      .join('');
  }
  return escapeXml(String(value));
}

/** Escapes text for XML. */
function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An AMI as DescribeImages returns it. */
function describeImage(image: ImageEntry): XmlValue {
  return {
    imageId: image.id,
    imageState: image.state,
    imageOwnerId: OWNER,
    isPublic: image.launchPermissions.includes('all'),
    architecture: image.architecture,
    imageType: 'machine',
    name: image.name,
    description: image.description,
    rootDeviceType: 'ebs',
    rootDeviceName: image.rootDeviceName,
    blockDeviceMapping: [
      {
        deviceName: image.rootDeviceName,
        ebs: {
          snapshotId: image.snapshotId,
          deleteOnTermination: image.deleteOnTermination,
          volumeType: image.volumeType,
        },
      },
    ],
    virtualizationType: image.virtualizationType,
    enaSupport: image.enaSupport,
    sriovNetSupport: image.sriovNetSupport,
    bootMode: image.bootMode,
    ...(image.imdsSupport ? { imdsSupport: image.imdsSupport } : {}),
    tagSet: image.tags,
  };
}

/** Parses a form-encoded Query request into a tree (1-based indexes become arrays). */
function parseQuery(body: string): Params {
  const root: Params = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const parts = name.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index]!;
      const last = index === parts.length - 1;
      const next = parts[index + 1];
      const key: string | number = /^\d+$/.test(part) ? Number(part) - 1 : part;
      const container = node as Record<string | number, unknown>;
      if (last) {
        container[key] = value;
      } else {
        container[key] ??= next !== undefined && /^\d+$/.test(next) ? [] : {};
        node = container[key] as Record<string, unknown>;
      }
    }
  }
  return root;
}

/** Tags of a `Tag.N.Key/Value` list. */
function tagList(value: unknown): TagEntry[] {
  return ((value as Params[] | undefined) ?? []).map((tag) => ({
    key: String(tag.Key),
    value: String(tag.Value ?? ''),
  }));
}

/** The tags of the `TagSpecification` for `resourceType`. */
function tagSpecifications(params: Params, resourceType: string): TagEntry[] {
  const specifications = (params.TagSpecification as Params[] | undefined) ?? [];
  return specifications
    .filter((spec) => spec.ResourceType === resourceType)
    .flatMap((spec) => tagList(spec.Tag));
}

/** Whether `tags` (and fixed attributes) match every `Filter.N` of the request. */
function matchesFilters(
  params: Params,
  tags: readonly TagEntry[],
  attributes: Record<string, string>,
): boolean {
  for (const filter of (params.Filter as Params[] | undefined) ?? []) {
    const name = String(filter.Name);
    const values = (filter.Value as string[] | undefined) ?? [];
    const actual = name.startsWith('tag:')
      ? tags.find((tag) => tag.key === name.slice(4))?.value
      : attributes[name];
    if (actual === undefined || !values.includes(actual)) return false;
  }
  return true;
}
