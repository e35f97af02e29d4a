/**
 * The KolaTest runner's context type, shared by the files of the runner (planning, VMs, reruns,
 * report).
 */
import type { NodeProps, RunnerContext } from '../../lib/runner.ts';
import type { KolaTestConfig } from './index.ts';

/** Props of the node as its runner receives them. */
export type KolaRunnerProps = NodeProps<KolaTestConfig>;

/** The context the KolaTest runner is called with. */
export type KolaRunnerContext = RunnerContext<KolaRunnerProps>;
