/**
 * Live ISO editing, coreos-installer's `iso ignition` commands: what `fcos-iso` and the install
 * tests call. Run side only (tools, files): the construct model does not import it.
 */

export { EMBEDDED_CONFIG_NAME, validateIgnitionConfig } from './config-payload.ts';
export { IGNINFO_PATH, locateEmbedArea } from './embed-area.ts';
export {
  ConfigAlreadyEmbeddedError,
  CorruptEmbedAreaError,
  EmbedAreaTooSmallError,
  InvalidIgnitionConfigError,
  MissingIsoToolError,
  NoEmbeddedConfigError,
  NotALiveIsoError,
} from './errors.ts';
export { type FileExtent, findFileExtent, readFileExtents } from './file-extents.ts';
export {
  type EmbedIgnitionOptions,
  type EmbedIgnitionResult,
  embedIgnitionConfig,
  type IsoCommandOptions,
  type IsoWriteOptions,
  type IsoWriteResult,
  type RemoveIgnitionResult,
  readIgnitionConfig,
  removeIgnitionConfig,
  showIgnitionConfig,
} from './ignition-embed.ts';
