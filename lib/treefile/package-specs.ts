/**
 * Package entries as rpm-ostree reads them (rust/src/treefile.rs `whitespace_split_packages` and
 * `split_whitespace_unless_quoted`): an entry holds several specs separated by whitespace
 * (`nano nano-default-editor`), and text between single quotes is one spec, quotes removed
 * (`'podman >= 4.1'` is the spec `podman >= 4.1`; `foo 'bar >= 1' baz` is three specs). A quote
 * left open is an error. rpm-ostree keeps the specs in a set, so each appears once.
 */
import { type TreefileErrorLocation, TreefileSchemaError } from './errors.ts';

/** The specs of one entry, in order, exactly as rpm-ostree splits it. */
export function splitPackageEntry(entry: string, location: TreefileErrorLocation): string[] {
  const specs: string[] = [];
  // Whitespace-separated words of unquoted text (Rust's `split_whitespace`).
  const words = (text: string) => text.split(/\s+/).filter((word) => word !== '');
  let start = 0;
  let quoted = false;
  for (let index = 0; index < entry.length; index++) {
    if (entry[index] !== "'") continue;
    // A quoted spec is kept as written, even empty, as rpm-ostree pushes the slice unchanged.
    if (quoted) specs.push(entry.slice(start, index));
    else specs.push(...words(entry.slice(start, index)));
    quoted = !quoted;
    start = index + 1;
  }
  if (quoted) {
    throw new TreefileSchemaError(
      `${location.file}: key '${location.field}': missing terminating quote in '${entry}'`,
      location,
    );
  }
  specs.push(...words(entry.slice(start)));
  return specs;
}

/** Every spec of `entries` (see {@link splitPackageEntry}), each once, in first-seen order. */
export function splitPackageEntries(entries: readonly string[], location: TreefileErrorLocation): string[] {
  const specs = entries.flatMap((entry, index) =>
    splitPackageEntry(entry, { ...location, field: `${location.field}.${index}` }),
  );
  return [...new Set(specs)];
}
