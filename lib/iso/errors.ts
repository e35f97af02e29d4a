/**
 * Why `fcos-iso ignition` refused to touch an ISO. Each is raised before anything is written, so
 * the ISO (and the output file) are left as they were; the CLI prints the message on one line.
 */
import { FcosError } from '../errors.ts';

/** The file is not an ISO 9660 image, or not a live ISO: no `/coreos/igninfo.json` or no embed area. */
export class NotALiveIsoError extends FcosError {
  /** The ISO the error is about. */
  readonly iso: string;

  constructor(iso: string, reason: string) {
    super(`${iso}: ${reason}`);
    this.iso = iso;
  }
}

/** The compressed archive holding the config does not fit in the ISO's embed area. */
export class EmbedAreaTooSmallError extends FcosError {
  /** Bytes of the compressed archive. */
  readonly payloadBytes: number;
  /** Bytes of the embed area. */
  readonly areaBytes: number;

  constructor(iso: string, payloadBytes: number, areaBytes: number) {
    super(
      `${iso}: the compressed Ignition config takes ${payloadBytes} bytes, more than the ${areaBytes} bytes of the ISO's embed area`,
    );
    this.payloadBytes = payloadBytes;
    this.areaBytes = areaBytes;
  }
}

/** The ISO already carries an embedded config and the caller did not ask to replace it. */
export class ConfigAlreadyEmbeddedError extends FcosError {
  constructor(iso: string) {
    super(`${iso}: the ISO already has an embedded Ignition config; use -f/--force to replace it`);
  }
}

/** The config to embed is not JSON, or has no `ignition.version`. */
export class InvalidIgnitionConfigError extends FcosError {
  constructor(source: string, reason: string) {
    super(`${source}: not an Ignition config: ${reason}`);
  }
}

/** `show` of an ISO whose embed area is empty. */
export class NoEmbeddedConfigError extends FcosError {
  constructor(iso: string) {
    super(`${iso}: no embedded Ignition config`);
  }
}

/** The embed area holds bytes that are not an xz newc archive with a `config.ign`. */
export class CorruptEmbedAreaError extends FcosError {
  constructor(iso: string, reason: string, options: { cause?: unknown } = {}) {
    super(`${iso}: the embed area does not hold an Ignition config archive: ${reason}`, options);
  }
}

/** A tool the ISO commands run is not installed. */
export class MissingIsoToolError extends FcosError {
  constructor(tool: string, debianPackage: string) {
    super(`${tool} is not installed (Debian package ${debianPackage}; scripts/setup.sh installs it)`);
  }
}
