/**
 * Runs GitHub's own workflow parser (@actions/workflow-parser) on workflows given as a JSON array
 * of texts on stdin and prints, as JSON, each one's parse and conversion errors and job ids.
 * A program of its own, run with tsx: the package imports its schema JSON without an import
 * attribute, which Node's loader (and so vitest's for external packages) refuses.
 */
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';

/** What the parser says of one workflow. */
export interface WorkflowCheck {
  /** Parse, schema and conversion errors; empty when GitHub would accept the file. */
  readonly errors: string[];
  /** Job ids as the parser read them. */
  readonly jobs: string[];
}

/** Parses and converts `content` as GitHub does; collects every error. */
async function check(content: string): Promise<WorkflowCheck> {
  const result = parseWorkflow({ name: 'workflow.yml', content }, new NoOperationTraceWriter());
  if (!result.value) {
    return {
      errors: [...result.context.errors.getErrors().map((error) => error.message), 'no workflow'],
      jobs: [],
    };
  }
  const template = await convertWorkflowTemplate(result.context, result.value);
  const errors = [
    ...result.context.errors.getErrors().map((error) => error.message),
    ...(template.errors ?? []).map((error) => error.Message),
  ];
  return { errors: [...new Set(errors)], jobs: template.jobs.map((job) => job.id.value) };
}

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const contents = JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[];
const results: WorkflowCheck[] = [];
for (const content of contents) results.push(await check(content));
process.stdout.write(JSON.stringify(results));
