/**
 * Before anything boots: the running server's graph, asked as each machine will ask it, offers the
 * target from the booted release exactly when the scenario expects it to (so a failing scenario
 * points at the guest, not at the served tree or the fixed clock).
 */
import { updateGraphSchema } from '../../lib/release/formats.ts';
import { UpdateTestSetupError } from './errors.ts';
import type { ScenarioReleases } from './scenarios.ts';

/** One machine's graph query and what it must show. */
export interface GraphExpectation {
  /** The machine's name, for the message. */
  readonly machine: string;
  /** Its rollout_wariness, if it sets one. */
  readonly rolloutWariness?: number;
  /** Whether the edge from → to must be there. */
  readonly offered: boolean;
}

/** Checks the edge from → to in the graph `serverUrl` gives each machine; throws naming the first mismatch. */
export async function checkServedGraph(
  serverUrl: string,
  stream: string,
  arch: string,
  releases: ScenarioReleases,
  expectations: readonly GraphExpectation[],
  nodePath: string,
): Promise<void> {
  for (const expectation of expectations) {
    const query = new URLSearchParams({ basearch: arch, stream });
    if (expectation.rolloutWariness !== undefined) {
      query.set('rollout_wariness', String(expectation.rolloutWariness));
    }
    const url = `${serverUrl}/v1/graph?${query}`;
    const response = await fetch(url);
    const body = await response.text();
    if (!response.ok) {
      throw new UpdateTestSetupError(`the served graph ${url} answered ${response.status}: ${body}`, {
        constructPath: nodePath,
      });
    }
    const graph = updateGraphSchema.parse(JSON.parse(body));
    const fromIndex = graph.nodes.findIndex((node) => node.payload === releases.from.checksum);
    const toIndex = graph.nodes.findIndex((node) => node.payload === releases.to.checksum);
    const offered = graph.edges.some(([from, to]) => from === fromIndex && to === toIndex);
    if (fromIndex < 0 || toIndex < 0 || offered !== expectation.offered) {
      throw new UpdateTestSetupError(
        `the served graph for ${expectation.machine} (${url}) should ${expectation.offered ? '' : 'not '}offer ${releases.from.version} → ${releases.to.version}, but it has nodes ${graph.nodes.map((node) => node.version).join(', ')} and edges ${JSON.stringify(graph.edges)}`,
        { constructPath: nodePath },
      );
    }
  }
}
